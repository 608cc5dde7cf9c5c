#include "cli/console_command.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <termios.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

// clang-format off
#include "cli/table.h"
#include "common/asio.h"
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace kumo::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxOutputMessageBytes = 16 * 1024 * 1024;
constexpr auto kCloseGrace = std::chrono::seconds(2);
constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

// The terminal state to put back from a fatal-signal handler.
int g_raw_fd = -1;
struct termios g_saved_termios;
volatile sig_atomic_t g_raw_active = 0;

void RestoreTerminalOnFatalSignal(int sig) {
  if (g_raw_active) tcsetattr(g_raw_fd, TCSANOW, &g_saved_termios);
  // SA_RESETHAND made the action the default again: die of the signal.
  raise(sig);
}

// Raw mode on a terminal (nothing if `fd` is not one), put back by Restore(),
// the destructor, or a fatal signal.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) {
    if (!isatty(fd) || tcgetattr(fd, &saved_) != 0) return;
    g_raw_fd = fd;
    g_saved_termios = saved_;
    struct sigaction action {};
    action.sa_handler = RestoreTerminalOnFatalSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (size_t i = 0; i < std::size(kFatalSignals); ++i) {
      sigaction(kFatalSignals[i], &action, &old_actions_[i]);
    }
    struct termios raw = saved_;
    cfmakeraw(&raw);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    g_raw_active = 1;
    if (tcsetattr(fd, TCSANOW, &raw) != 0) {
      Restore();
      return;
    }
    fd_ = fd;
    active_ = true;
  }
  ~RawTerminal() { Restore(); }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  void Restore() {
    if (g_raw_fd < 0) return;
    if (active_) tcsetattr(fd_, TCSANOW, &saved_);
    g_raw_active = 0;
    g_raw_fd = -1;
    active_ = false;
    for (size_t i = 0; i < std::size(kFatalSignals); ++i) {
      sigaction(kFatalSignals[i], &old_actions_[i], nullptr);
    }
  }
  bool active() const { return active_; }

 private:
  int fd_ = -1;
  bool active_ = false;
  struct termios saved_ {};
  struct sigaction old_actions_[std::size(kFatalSignals)]{};
};

// SIGPIPE ignored while it lives: a closed stdout must end the session
// cleanly (terminal restored), not kill the process.
class IgnoreSigpipe {
 public:
  IgnoreSigpipe() {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, &old_);
  }
  ~IgnoreSigpipe() { sigaction(SIGPIPE, &old_, nullptr); }

 private:
  struct sigaction old_ {};
};

// Reads `fd` on its own thread (it may be a terminal, a pipe or a file) and
// posts each chunk to the loop; it reads the next one only after Ack(), so
// input is taken no faster than it is sent.
class InputReader {
 public:
  using OnData = std::function<void(std::string)>;
  using OnEnd = std::function<void()>;

  InputReader(asio::io_context& io, int fd, OnData on_data, OnEnd on_end)
      : io_(io), fd_(fd), on_data_(std::move(on_data)), on_end_(std::move(on_end)) {}
  ~InputReader() { Stop(); }

  bool Start() {
    if (pipe2(wake_, O_CLOEXEC) != 0) return false;
    thread_ = std::thread([this] { Loop(); });
    return true;
  }
  void Ack() {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = false;
    cv_.notify_all();
  }
  void Stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    char byte = 0;
    (void)!write(wake_[1], &byte, 1);
    thread_.join();
    close(wake_[0]);
    close(wake_[1]);
  }

 private:
  void Loop() {
    char buf[4096];
    while (true) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents) return;  // stopping
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;
      {
        std::lock_guard<std::mutex> lock(mu_);
        in_flight_ = true;
      }
      asio::post(io_, [f = on_data_, data = std::string(buf, static_cast<size_t>(n))] { f(data); });
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !in_flight_ || stop_; });
      if (stop_) return;
    }
    asio::post(io_, on_end_);
  }

  asio::io_context& io_;
  int fd_;
  OnData on_data_;
  OnEnd on_end_;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool in_flight_ = false;
  bool stop_ = false;
};

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p = {fd, POLLOUT, 0};
      poll(&p, 1, -1);
      continue;
    }
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// One attachment: connect, then copy both ways until something ends it.
class ConsoleSession {
 public:
  ConsoleSession(const ApiUrl& url, const std::string& token, const std::string& name,
                 const ConsoleOptions& options)
      : url_(url), token_(token), name_(name), options_(options) {}

  int Run() {
    std::ostream& err = *options_.err;
    if (auto error = Connect()) return PrintError(*error, false, err, err);
    err << "Connected to " << name_ << "'s console. Escape character is ^]" << std::endl;

    asio::signal_set signals(io_, SIGINT, SIGTERM, SIGHUP);
    signals.add(SIGQUIT);
    signals.async_wait([this](const beast::error_code& ec, int sig) {
      if (!ec) End(Ending::kSignal, std::to_string(sig), sig);
    });
    signals_ = &signals;
    IgnoreSigpipe sigpipe;
    RawTerminal raw(options_.in_fd);
    InputReader reader(
        io_, options_.in_fd, [this](std::string data) { OnInput(std::move(data)); },
        [this] { End(Ending::kInputEnded); });
    reader_ = &reader;
    if (!reader.Start()) {
      raw.Restore();
      return PrintError(CliError{kExitApiError, "cannot watch standard input"}, false, err, err);
    }
    ReadOutput();
    io_.run();
    reader.Stop();
    raw.Restore();
    signals_ = nullptr;
    reader_ = nullptr;
    return Report();
  }

 private:
  enum class Ending {
    kNone,
    kDetached,
    kInputEnded,
    kSignal,
    kOutputClosed,
    kClosedByKumod,
    kLost
  };

  std::optional<CliError> Connect() {
    const std::string where = url_.ToString();
    auto unreachable = [&](const std::string& what) {
      return CliError{kExitUnreachable, "cannot reach kumod at " + where + ": " + what,
                      "is kumod running? Start it (kumod --listen HOST:PORT), or point --url / "
                      "KUMO_URL at it"};
    };
    beast::error_code ec;
    tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(url_.host, std::to_string(url_.port), ec);
    if (ec) return unreachable("cannot resolve " + url_.host + ": " + ec.message());

    const std::string authorization = token_.empty() ? "" : "Bearer " + token_;
    ws_.set_option(websocket::stream_base::decorator([authorization](websocket::request_type& r) {
      r.set(http::field::user_agent, "kumo-cli");
      if (!authorization.empty()) r.set(http::field::authorization, authorization);
    }));
    beast::error_code connect_error, handshake_error;
    bool handshake_done = false;
    beast::get_lowest_layer(ws_).expires_after(options_.connect_timeout);
    beast::get_lowest_layer(ws_).async_connect(
        endpoints, [&](beast::error_code e, const tcp::endpoint&) {
          if (e) {
            connect_error = e;
            return;
          }
          ws_.async_handshake(response_, url_.Authority(),
                              ConsoleTarget(url_, name_, options_.tail_lines),
                              [&](beast::error_code e) {
                                handshake_error = e;
                                handshake_done = true;
                              });
        });
    io_.run();
    io_.restart();
    if (connect_error == beast::error::timeout) {
      return unreachable("no connection within " + FormatSeconds(options_.connect_timeout) + " s");
    }
    if (connect_error) return unreachable(connect_error.message());
    if (handshake_error == websocket::error::upgrade_declined) {
      return ErrorFromReply(static_cast<int>(response_.result_int()), response_.body(), where,
                            options_.token_source);
    }
    if (handshake_error == beast::error::timeout) {
      return CliError{kExitUnreachable,
                      "kumod at " + where + " did not answer within " +
                          FormatSeconds(options_.connect_timeout) + " s",
                      "kumod may be overloaded or stuck; look at its log"};
    }
    if (handshake_error || !handshake_done) {
      return CliError{kExitUnreachable,
                      "lost the connection to kumod at " + where + ": " +
                          (handshake_error ? handshake_error.message() : "no answer"),
                      "is --url (KUMO_URL) pointing at kumod? Look at kumod's log"};
    }
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    ws_.read_message_max(kMaxOutputMessageBytes);
    ws_.binary(true);
    return std::nullopt;
  }

  void ReadOutput() {
    ws_.async_read(read_buffer_, [this](beast::error_code ec, size_t) {
      if (ec) {
        if (ending_ != Ending::kNone) return;  // our own close
        if (ec == websocket::error::closed) {
          close_ = ws_.reason();
          return End(Ending::kClosedByKumod);
        }
        return End(Ending::kLost, ec.message());
      }
      auto bytes = read_buffer_.data();
      if (ending_ != Ending::kOutputClosed &&
          !WriteAll(options_.out_fd, static_cast<const char*>(bytes.data()), bytes.size())) {
        End(Ending::kOutputClosed);
      }
      read_buffer_.consume(read_buffer_.size());
      ReadOutput();
    });
  }

  void OnInput(std::string data) {
    if (ending_ != Ending::kNone) return;
    size_t escape = FindConsoleEscape(data);
    if (escape != std::string::npos) {
      data.resize(escape);
      if (!data.empty()) input_.push_back(std::move(data));
      return End(Ending::kDetached);
    }
    input_.push_back(std::move(data));
    PumpInput();
  }

  void PumpInput() {
    if (writing_) return;
    if (input_.empty()) {
      if (ending_ != Ending::kNone) StartClose();
      return;
    }
    writing_ = true;
    ws_.async_write(asio::buffer(input_.front()), [this](beast::error_code ec, size_t) {
      writing_ = false;
      if (ec) {
        if (ending_ == Ending::kNone) End(Ending::kLost, ec.message());
        return io_.stop();
      }
      input_.pop_front();
      if (input_.empty() && ending_ == Ending::kNone && reader_) reader_->Ack();
      PumpInput();
    });
  }

  // A normal close once the input read so far is sent; at most kCloseGrace.
  void StartClose() {
    if (close_started_) return;
    close_started_ = true;
    close_timer_.expires_after(kCloseGrace);
    close_timer_.async_wait([this](beast::error_code ec) {
      if (!ec) io_.stop();
    });
    ws_.async_close(websocket::close_code::normal, [this](beast::error_code) { io_.stop(); });
  }

  void End(Ending ending, std::string detail = "", int signal = 0) {
    if (ending_ != Ending::kNone) return;
    ending_ = ending;
    detail_ = std::move(detail);
    signal_ = signal;
    if (signals_) {
      beast::error_code ignored;
      signals_->cancel(ignored);
    }
    if (ending == Ending::kClosedByKumod || ending == Ending::kLost) return io_.stop();
    PumpInput();  // then StartClose
  }

  int Report() {
    std::ostream& err = *options_.err;
    switch (ending_) {
      case Ending::kNone:
      case Ending::kDetached:
      case Ending::kInputEnded:
        err << "\ndetached" << std::endl;
        return kExitOk;
      case Ending::kOutputClosed:
        return kExitOk;
      case Ending::kSignal:
        err << "\ndetached (signal " << signal_ << ")" << std::endl;
        return 128 + signal_;
      case Ending::kClosedByKumod: {
        std::string reason(close_.reason.c_str());
        bool normal = close_.code == websocket::close_code::normal ||
                      close_.code == websocket::close_code::going_away;
        if (normal) {
          err << "\nkumod closed the console" << (reason.empty() ? "" : ": " + reason) << std::endl;
          return kExitOk;
        }
        err << "\n";
        return PrintError(CliError{kExitApiError,
                                   "kumod closed the console (code " +
                                       std::to_string(static_cast<int>(close_.code)) + ")" +
                                       (reason.empty() ? "" : ": " + reason),
                                   "look at kumod's log"},
                          false, err, err);
      }
      case Ending::kLost:
        err << "\n";
        return PrintError(
            CliError{kExitUnreachable,
                     "lost the connection to kumod at " + url_.ToString() + ": " + detail_,
                     "is kumod still running? Look at its log"},
            false, err, err);
    }
    return kExitApiError;
  }

  const ApiUrl& url_;
  const std::string& token_;
  const std::string& name_;
  const ConsoleOptions& options_;
  asio::io_context io_;
  websocket::stream<beast::tcp_stream> ws_{io_};
  websocket::response_type response_;
  beast::flat_buffer read_buffer_;
  asio::steady_timer close_timer_{io_};
  asio::signal_set* signals_ = nullptr;
  InputReader* reader_ = nullptr;
  std::deque<std::string> input_;
  bool writing_ = false;
  bool close_started_ = false;
  Ending ending_ = Ending::kNone;
  std::string detail_;
  int signal_ = 0;
  websocket::close_reason close_;
};

}  // namespace

std::string ConsoleTarget(const ApiUrl& url, const std::string& name, int tail_lines) {
  std::string target = url.base_path + "/v1/servers/" + EncodePathSegment(name) + "/console";
  if (tail_lines > 0) target += "?tail=" + std::to_string(tail_lines);
  return target;
}

int AttachConsole(const ApiUrl& url, const std::string& token, const std::string& name) {
  return AttachConsole(url, token, name, ConsoleOptions());
}

int AttachConsole(const ApiUrl& url, const std::string& token, const std::string& name,
                  const ConsoleOptions& options) {
  try {
    ConsoleSession session(url, token, name, options);
    return session.Run();
  } catch (const std::exception& e) {  // the terminal is restored by now
    return PrintError(CliError{kExitApiError, std::string("console: ") + e.what()}, false,
                      *options.err, *options.err);
  }
}

int ShowConsoleLog(Context& ctx, const std::string& name, int tail_lines) {
  if (tail_lines < 0) {
    return PrintError(CliError{kExitUsage, "--tail must be 0 (everything) or more"}, ctx.json,
                      ctx.out, ctx.err);
  }
  std::string target = "/v1/servers/" + EncodePathSegment(name) + "/console-log";
  if (tail_lines > 0) target += "?tail=" + std::to_string(tail_lines);
  auto reply = ctx.api.Call("GET", target);
  if (!reply.ok()) return PrintError(reply.error(), ctx.json, ctx.out, ctx.err);
  if (ctx.json) {
    ctx.out << reply->raw;
    if (reply->raw.empty() || reply->raw.back() != '\n') ctx.out << "\n";
  } else {
    const json& text = reply->body.is_object() ? reply->body["text"] : json();
    if (!text.is_string()) {
      return PrintError(CliError{kExitApiError, "the reply from kumod has no \"text\"",
                                 "is --url (KUMO_URL) pointing at kumod?"},
                        false, ctx.out, ctx.err);
    }
    ctx.out << text.get<std::string>();
  }
  ctx.out.flush();
  return kExitOk;
}

}  // namespace kumo::cli
