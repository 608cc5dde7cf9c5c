// End to end: ConsoleBroker on a real QEMU booting the project's guest image
// (TCG unless KUMO_TEST_ACCEL=kvm), with the console chardev exactly as
// kumod's QEMU argv has it (BuildQemuArgv). The broker waits for the FIFOs,
// sees the getty's "kumo login:", types into it, and a second broker (as
// after a kumod restart) takes the FIFOs over. Then the whole
// path: `kumo console`'s AttachConsole → kumod's HttpServer WebSocket →
// broker → QEMU, with the glue the router uses. QEMU runs in the foreground
// here (no -daemonize) and is stopped by its pid.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "api/http_server.h"
#include "cli/console_command.h"
#include "console/console_broker.h"
#include "hypervisor/qemu_argv.h"
#include "support/child_process.h"
#include "support/foreground_qemu.h"
#include "support/io_loop.h"

namespace kumo::console {
namespace {

using kumo::testing::ReadFdUntil;
using kumo::testing::RunUntil;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

std::string ImageDir() {
  const char* dir = std::getenv("KUMO_GUEST_IMAGE_DIR");
  return dir && *dir ? dir : KUMO_GUEST_IMAGE_DIR;
}

class ConsoleOnQemu : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(ImageDir() + "/image.json");
    if (!in) GTEST_SKIP() << "no guest image in " << ImageDir() << " (build target guest-image)";
    auto image = nlohmann::json::parse(in);
    spec_.name = "console-test";
    spec_.memory_mib = 256;
    spec_.kernel = ImageDir() + "/" + image.value("kernel", "vmlinuz");
    spec_.initrd = ImageDir() + "/" + image.value("initrd", "initrd.img");
    spec_.cmdline = image.value("cmdline", "");
    spec_.base_disk = ImageDir() + "/" + image.value("disk", "rootfs.qcow2");
    const char* accel = std::getenv("KUMO_TEST_ACCEL");
    spec_.accel = accel ? accel : "tcg";
    spec_.paths.run_dir = dir_.path().string();
    ASSERT_TRUE(hypervisor::ValidateSpec(spec_).ok()) << hypervisor::ValidateSpec(spec_).ToString();

    std::string err;
    testing::ChildProcess img;
    ASSERT_TRUE(img.Start(hypervisor::BuildOverlayArgv(QEMU_IMG_PATH, spec_, spec_.paths.disk()),
                          dir_ / "img.log", &err))
        << err;
    int status = img.WaitExit(seconds(30));
    ASSERT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << testing::ReadFile(dir_ / "img.log");
  }

  // kumod's argv, but in the foreground so that the test owns the process.
  void StartQemu() {
    Status fifos = hypervisor::MakeConsoleFifos(spec_.paths, std::nullopt);
    ASSERT_TRUE(fifos.ok()) << fifos.ToString();
    std::string err;
    ASSERT_TRUE(
        qemu_.Start(testing::ForegroundQemuArgv(QEMU_SYSTEM_PATH, spec_), dir_ / "qemu.log", &err))
        << err;
  }

  ConsoleFifos Fifos() const {
    return {spec_.paths.console_output_fifo(), spec_.paths.console_input_fifo()};
  }

  testing::TempDir dir_;
  hypervisor::MachineSpec spec_;
  testing::ChildProcess qemu_;  // stopped (by pid) before dir_ goes
  boost::asio::io_context io_;
};

TEST_F(ConsoleOnQemu, SeesTheLoginPromptAndTypesIntoIt) {
  std::vector<std::string> log;
  ConsoleBroker::Options options;
  options.log = [&](const std::string& line) { log.push_back(line); };
  auto broker = std::make_unique<ConsoleBroker>(io_, "console-test", options);
  std::string seen, also_seen;
  broker->Subscribe([&](std::string_view s) { seen += s; });
  broker->Subscribe([&](std::string_view s) { also_seen += s; });
  // Before QEMU exists, as when kumod adopts a machine that is starting.
  broker->Start(Fifos(), spec_.paths.console_log());
  StartQemu();
  auto booted_at = Clock::now();
  ASSERT_TRUE(RunUntil(
      io_, [&] { return seen.find("kumo login:") != std::string::npos; }, seconds(180)))
      << "console so far:\n"
      << seen << "\nqemu.log:\n"
      << testing::ReadFile(dir_ / "qemu.log");
  std::cout << "login prompt after "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - booted_at).count() << " ms; "
            << seen.size() << " bytes of console output\n";
  EXPECT_EQ(also_seen, seen);
  EXPECT_TRUE(broker->connected());

  // Input reaches the getty: root has no password in the image, so the
  // console's login says how to set one, and the getty prompts again.
  seen.clear();
  ASSERT_TRUE(broker->Write("root\n"));
  ASSERT_TRUE(RunUntil(
      io_, [&] { return seen.find("root has no password yet") != std::string::npos; }, seconds(30)))
      << seen;
  ASSERT_TRUE(RunUntil(
      io_, [&] { return seen.find("kumo login:") != std::string::npos; }, seconds(30)))
      << seen;
  std::cout << "after typing:\n" << seen << "\n";
  EXPECT_NE(seen.find("root"), std::string::npos) << "the getty echoes the name";

  // QEMU's console.log has the same: the scrollback, with no broker needed.
  // (QEMU may write its log a moment after the FIFO.)
  std::string tail;
  EXPECT_TRUE(RunUntil(
      io_,
      [&] {
        tail = ReadScrollback(spec_.paths.console_log(), 3);
        return tail.find("kumo login:") != std::string::npos;
      },
      seconds(5)))
      << tail;
  EXPECT_NE(ReadScrollback(spec_.paths.console_log()).find("Linux version"), std::string::npos);

  // A new broker takes the FIFOs over once the old one is gone (kumod
  // restarted).
  broker->Stop();
  broker.reset();
  ConsoleBroker second(io_, "console-test", options);
  std::string after_restart;
  second.Subscribe([&](std::string_view s) { after_restart += s; });
  second.Start(Fifos(), spec_.paths.console_log());
  ASSERT_TRUE(RunUntil(
      io_, [&] { return second.connected(); }, seconds(10)));
  second.Write("\n");
  ASSERT_TRUE(RunUntil(
      io_, [&] { return after_restart.find("kumo login:") != std::string::npos; }, seconds(30)))
      << after_restart;
  second.Stop();
  for (const auto& line : log) std::cout << "broker: " << line << "\n";
  qemu_.Stop();
}

// What kumod's router does with a console upgrade (after checking the token
// and finding the running server's broker): the channel subscribes to the
// broker, its messages go to the guest, and each side's end ends the other.
void BridgeConsole(std::shared_ptr<ConsoleBroker> broker,
                   std::shared_ptr<api::WebSocketChannel> channel) {
  auto id =
      broker->Subscribe([channel](std::string_view bytes) { channel->Send(std::string(bytes)); },
                        [channel] { channel->Close("server stopped"); });
  std::weak_ptr<ConsoleBroker> weak = broker;
  channel->OnMessage([weak](std::string bytes) {
    if (auto b = weak.lock()) b->Write(std::move(bytes));
  });
  channel->OnClose([weak, id] {
    if (auto b = weak.lock()) b->Unsubscribe(id);
  });
}

TEST_F(ConsoleOnQemu, ThroughTheWebSocketApiAndTheCli) {
  auto broker = std::make_shared<ConsoleBroker>(io_, "console-test");
  broker->Start(Fifos(), spec_.paths.console_log());
  StartQemu();
  api::HttpServer server(io_, [](const api::ApiRequest&, auto respond) {
    respond(api::ErrorResponse(404, codes::kNotFound, "no such endpoint"));
  });
  server.SetUpgradeHandler(
      [&](const api::ApiRequest& req,
          std::shared_ptr<api::WebSocketChannel> channel) -> std::optional<api::ApiResponse> {
        if (req.authorization != "Bearer tok") {
          return api::ErrorResponse(401, "Unauthorized", "a valid bearer token is required");
        }
        if (req.path != "/v1/servers/console-test/console") {
          return api::ErrorResponse(404, codes::kNotFound, "no server named that");
        }
        BridgeConsole(broker, channel);
        return std::nullopt;
      });
  ASSERT_TRUE(server.Listen("127.0.0.1:0").ok());
  auto work = boost::asio::make_work_guard(io_);
  std::thread loop([this] { io_.run(); });

  int in[2], out[2];
  ASSERT_EQ(pipe(in), 0);
  ASSERT_EQ(pipe(out), 0);
  std::ostringstream err;
  cli::ConsoleOptions options;
  options.in_fd = in[0];
  options.out_fd = out[1];
  options.err = &err;
  auto url = *cli::ParseApiUrl("http://127.0.0.1:" + std::to_string(server.port()));
  auto attached = std::async(
      std::launch::async, [&] { return cli::AttachConsole(url, "tok", "console-test", options); });
  // The guest may still be booting: press Enter until the getty answers.
  std::string screen;
  auto deadline = Clock::now() + seconds(180);
  while (screen.find("kumo login:") == std::string::npos && Clock::now() < deadline) {
    ASSERT_EQ(write(in[1], "\n", 1), 1);
    screen += ReadFdUntil(out[0], "kumo login:", seconds(3));
  }
  ASSERT_NE(screen.find("kumo login:"), std::string::npos) << screen;
  ASSERT_EQ(write(in[1], "root\n", 5), 5);
  screen = ReadFdUntil(out[0], "has no password yet", seconds(30));
  EXPECT_NE(screen.find("has no password yet"), std::string::npos) << screen;
  ASSERT_EQ(write(in[1], "\x1d", 1), 1);
  EXPECT_EQ(attached.get(), cli::kExitOk);
  EXPECT_NE(err.str().find("Connected to console-test's console"), std::string::npos);
  EXPECT_NE(err.str().find("detached"), std::string::npos);
  std::cout << "kumo console said:\n" << err.str();

  // The detached channel unsubscribed (on the loop, soon after).
  auto on_loop = [&](std::function<size_t()> f) {
    std::promise<size_t> done;
    boost::asio::post(io_, [&] { done.set_value(f()); });
    return done.get_future().get();
  };
  auto until = Clock::now() + seconds(5);
  while (on_loop([&] { return broker->subscriber_count(); }) != 0 && Clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(on_loop([&] { return broker->subscriber_count(); }), 0u);
  on_loop([&] {
    broker->Stop();
    return size_t{0};
  });
  work.reset();
  io_.stop();
  loop.join();
  for (int fd : {in[0], in[1], out[0], out[1]}) close(fd);
  qemu_.Stop();
}

}  // namespace
}  // namespace kumo::console
