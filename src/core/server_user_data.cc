// ServerCore and user data: the NoCloud seed made at create (the guest reads
// it at boot: cloud-init on stock images, kumo-init on the kumo image), and
// what kumo-init reports once a boot's steps have run, written to the
// server's timeline so that "the init script exited 3" needs no SSH.
#include <sys/stat.h>

#include <filesystem>
#include <random>

#include "cloudinit/seed.h"
#include "cloudinit/seed_image.h"
#include "core/server_runtime.h"

namespace kumo::core {

namespace asio = boost::asio;

namespace {

constexpr Milliseconds kInitPollEvery{2000};
constexpr Milliseconds kInitCallTimeout{5000};
// A user-data script may start a long job in the foreground; after this long
// the timeline says so and kumod stops asking.
constexpr Milliseconds kInitFollowAtMost{60 * 60 * 1000};

// The guest's reply is untrusted: a field of the wrong type reads as absent.
std::string StringField(const guestlink::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t IntField(const guestlink::json& j, const char* key, int64_t absent) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : absent;
}

std::string NewInstanceId() {
  std::random_device random;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string id = "i-";
  for (int i = 0; i < 16; ++i) id += "0123456789abcdef"[hex(random)];
  return id;
}

// The last non-empty line of a step's output, shortened for an event.
std::string LastLine(const std::string& output) {
  size_t end = output.find_last_not_of("\r\n \t");
  if (end == std::string::npos) return "";
  size_t start = output.find_last_of('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  std::string line = output.substr(start, end + 1 - start);
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';  // no terminal escapes
  }
  if (line.size() > 200) line = line.substr(0, 200) + "…";
  return line;
}

std::string StepMessage(const guestlink::json& step) {
  std::string name = StringField(step, "step");
  if (name.empty() || name.size() > 64) name = "?";
  int64_t code = IntField(step, "exit_code", -1);
  std::string what = name == "script"               ? "init script"
                     : name.rfind("runcmd", 0) == 0 ? "user data " + name
                                                    : "user data step '" + name + "'";
  std::string message = what + " exited with status " + std::to_string(code);
  std::string last = LastLine(StringField(step, "output"));
  if (!last.empty()) message += " (last output: " + last + ")";
  return message;
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

void ServerCore::CollectInitResults(const std::string& name) {
  auto agent = AgentOf(name);
  if (agent) PollInitStatus(name, agent, NowMs() + kInitFollowAtMost.count());
}

void ServerCore::PollInitStatus(const std::string& name,
                                std::shared_ptr<guestlink::AgentLink> agent, int64_t give_up_ms) {
  std::weak_ptr<bool> alive = alive_;
  agent->Call(
      "kumo-init-status", guestlink::json::object(), true, kInitCallTimeout,
      [this, alive, name, agent, give_up_ms](guestlink::QgaReply reply) {
        if (alive.expired()) return;
        auto it = runtime_.find(name);
        // Another boot (or none) has this server now: its own poll reports.
        if (it == runtime_.end() || it->second->agent != agent) return;
        Runtime& rt = *it->second;
        // Not kumo-init's image (CommandNotFound, or nothing recorded).
        if (!reply.ok && !reply.timed_out) return;
        const guestlink::json& st = reply.value;
        if (!reply.ok || !st.is_object() || !(st.contains("finished") && st["finished"] == true)) {
          if (NowMs() > give_up_ms) {
            Transition(name, "init", "user data still running after an hour; not followed further",
                       [](store::ServerRecord&) {});
            return;
          }
          rt.init_poll_timer = std::make_unique<asio::steady_timer>(io_, kInitPollEvery);
          rt.init_poll_timer->async_wait(
              [this, alive, name, agent, give_up_ms](boost::system::error_code ec) {
                if (!ec && !alive.expired()) PollInitStatus(name, agent, give_up_ms);
              });
          return;
        }
        ReportInitSteps(name, st);
      });
}

void ServerCore::ReportInitSteps(const std::string& name, const guestlink::json& status) {
  auto it = runtime_.find(name);
  if (it == runtime_.end()) return;
  std::string boot_id = StringField(status, "boot_id");
  if (boot_id == it->second->init_reported_boot_id) return;
  it->second->init_reported_boot_id = boot_id;
  auto ran = status.find("ran");
  if (ran == status.end() || !ran->is_array()) return;
  for (const auto& step : *ran) {
    if (step.is_object()) Transition(name, "init", StepMessage(step), [](store::ServerRecord&) {});
  }
  if (int64_t omitted = IntField(status, "steps_omitted", 0); omitted > 0) {
    Transition(name, "init",
               std::to_string(omitted) + " earlier user data steps succeeded (not listed)",
               [](store::ServerRecord&) {});
  }
}

}  // namespace kumo::core
