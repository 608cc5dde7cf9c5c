#include "diagnosis/ssh_probe.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "telemetry/guest_text.h"

namespace kumo::diagnosis {

bool IsSshBanner(std::string_view first_bytes, std::string* line) {
  std::string_view first = first_bytes.substr(0, first_bytes.find('\n'));
  *line = telemetry::BoundedText(first, 80);  // guest text, cleaned as all of it is
  return first.substr(0, 4) == "SSH-";
}

namespace {

struct Probe : std::enable_shared_from_this<Probe> {
  Probe(boost::asio::io_context& io, std::function<void(SshProbeResult)> d)
      : socket(io), timer(io), done(std::move(d)) {}
  boost::asio::ip::tcp::socket socket;
  boost::asio::steady_timer timer;
  std::function<void(SshProbeResult)> done;
  std::string received;
  char buffer[kMaxBannerBytes];

  void Finish(SshProbeResult result) {
    if (!done) return;
    auto d = std::move(done);
    done = nullptr;
    boost::system::error_code ignored;
    timer.cancel();
    socket.close(ignored);
    d(std::move(result));
  }

  void Read() {
    socket.async_read_some(
        boost::asio::buffer(buffer, kMaxBannerBytes - received.size()),
        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
          self->received.append(self->buffer, n);
          std::string line;
          bool banner = IsSshBanner(self->received, &line);
          bool whole = self->received.find('\n') != std::string::npos ||
                       self->received.size() >= kMaxBannerBytes;
          if (banner) return self->Finish({true, line});
          if (whole) return self->Finish({false, "not an SSH banner: " + line});
          if (ec) {
            return self->Finish({false, self->received.empty()
                                            ? "the connection closed with no banner"
                                            : "the connection closed after: " + line});
          }
          self->Read();
        });
  }
};

}  // namespace

void ProbeSsh(boost::asio::io_context& io, int port, std::chrono::milliseconds timeout,
              std::function<void(SshProbeResult)> done) {
  auto probe = std::make_shared<Probe>(io, std::move(done));
  probe->timer.expires_after(timeout);
  probe->timer.async_wait([probe, timeout](const boost::system::error_code& ec) {
    if (ec) return;
    probe->Finish({false, "no SSH banner within " + std::to_string(timeout.count()) + " ms"});
  });
  boost::asio::ip::tcp::endpoint to(boost::asio::ip::address_v4::loopback(),
                                    static_cast<unsigned short>(port));
  probe->socket.async_connect(to, [probe](const boost::system::error_code& ec) {
    if (ec) return probe->Finish({false, "connect failed: " + ec.message()});
    probe->Read();
  });
}

}  // namespace kumo::diagnosis
