// ServerCore and user data: the NoCloud seed made at create (the guest reads
// it at boot: cloud-init on stock images, kumo-init on the kumo image), and
// what kumo-init reports once a boot's steps have run, written to the
// server's timeline so that "the init script exited 3" needs no SSH.
#include <sys/stat.h>

#include <filesystem>
#include <random>

#include "cloudinit/seed.h"
#include "cloudinit/seed_image.h"
#include "cloudinit/user_data.h"
#include "core/init_report.h"
#include "core/server_runtime.h"

namespace kumo::core {

namespace asio = boost::asio;

namespace {

constexpr Milliseconds kInitPollEvery{2000};
constexpr Milliseconds kInitCallTimeout{2000};  // it reads two small files
// A user-data script may start a long job in the foreground; after this long
// the timeline says so and kumod stops asking.
constexpr Milliseconds kInitFollowAtMost{60 * 60 * 1000};

constexpr size_t kMaxUserDataWarningEvents = 8;

std::string NewInstanceId() {
  std::random_device random;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string id = "i-";
  for (int i = 0; i < 16; ++i) id += "0123456789abcdef"[hex(random)];
  return id;
}

}  // namespace

Status ServerCore::MakeSeed(const store::ServerRecord& r) {
  std::error_code ec;
  std::filesystem::create_directories(r.run_dir, ec);
  if (ec || chmod(r.run_dir.c_str(), 0700) != 0) {
    return Status(codes::kInternal, "cannot create " + r.run_dir + ": " + ec.message());
  }
  cloudinit::SeedInput in{NewInstanceId(), r.name, r.user_data, r.ssh_key};
  Status s = cloudinit::WriteSeed(in, r.run_dir + "/seed");
  if (s.ok()) s = cloudinit::BuildSeedImage(r.run_dir + "/seed", r.run_dir + "/seed.iso");
  if (!s.ok()) std::filesystem::remove_all(r.run_dir, ec);
  return s;
}

void ServerCore::NoteUserDataWarnings(const std::string& name, const std::string& user_data) {
  auto report = cloudinit::CheckUserData(user_data);
  if (!report.ok()) return;
  const auto& warnings = report->warnings;
  for (size_t i = 0; i < warnings.size() && i < kMaxUserDataWarningEvents; ++i) {
    Note(name, "user-data", "user data: " + warnings[i]);
  }
  if (warnings.size() > kMaxUserDataWarningEvents) {
    Note(name, "user-data",
         "user data: " + std::to_string(warnings.size() - kMaxUserDataWarningEvents) +
             " more warnings like these");
  }
}

void ServerCore::CollectInitResults(const std::string& name) {
  auto agent = AgentOf(name);
  if (agent) PollInitStatus(name, agent, NowMs() + kInitFollowAtMost.count());
}

void ServerCore::PollInitStatus(const std::string& name,
                                std::shared_ptr<guestlink::AgentLink> agent, int64_t give_up_ms) {
  auto it = runtime_.find(name);
  auto r = Load(name);
  // Another boot (or none) has this server now: its own poll reports.
  if (it == runtime_.end() || it->second->agent != agent || !r.ok()) return;
  if (NowMs() > give_up_ms) {
    Note(name, "init", "user data still running after an hour; not followed further");
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  auto again = [this, alive, name, agent, give_up_ms] {
    if (alive.expired()) return;
    auto it = runtime_.find(name);
    if (it == runtime_.end() || it->second->agent != agent) return;
    it->second->init_poll_timer = std::make_unique<asio::steady_timer>(io_, kInitPollEvery);
    it->second->init_poll_timer->async_wait(
        [this, alive, name, agent, give_up_ms](boost::system::error_code ec) {
          if (!ec && !alive.expired()) PollInitStatus(name, agent, give_up_ms);
        });
  };
  // Nothing is asked of an agent that is not answering its heartbeat.
  if (r->agent != "ok") return again();
  agent->Call("kumo-init-status", guestlink::json::object(), true, kInitCallTimeout,
              [this, alive, name, again](guestlink::QgaReply reply) {
                if (alive.expired()) return;
                // Not kumo-init's image (CommandNotFound, or nothing recorded).
                if (!reply.ok && !reply.timed_out) return;
                if (!reply.ok) return again();
                InitReport report = ReadInitReport(reply.value);
                if (!report.finished) return again();
                ReportInitSteps(name, report);
              });
}

void ServerCore::ReportInitSteps(const std::string& name, const InitReport& report) {
  auto it = runtime_.find(name);
  if (it == runtime_.end() || report.boot_id == it->second->init_reported_boot_id) return;
  it->second->init_reported_boot_id = report.boot_id;
  for (const auto& message : report.messages) {
    Note(name, "init", message);
  }
}

}  // namespace kumo::core
