// End to end: guest isolation on the host (DESIGN.md "Guest isolation"). A
// real kumod, as root, runs each QEMU as the unprivileged user kumo-qemu in a
// strict seccomp sandbox, and the servers still boot, answer their agent,
// stop gracefully and force-stop; a guest reaches nothing on the host but
// its own SSH forward, and still reaches the world outside (a network
// namespace of the test's own).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "e2e/kumod_harness.h"

namespace kumo {
namespace {

using testing::json;
using testing::KumodHarness;
using namespace std::chrono_literals;

constexpr double kBootTimeout = 180;  // TCG on a loaded 2-core CI machine

// The "Key:\tvalue" lines of /proc/PID/status.
std::map<std::string, std::string> ProcStatus(int64_t pid) {
  std::map<std::string, std::string> fields;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    size_t start = line.find_first_not_of(" \t", colon + 1);
    fields[line.substr(0, colon)] = start == std::string::npos ? "" : line.substr(start);
  }
  return fields;
}

// A TCP listener the test opens on the host, standing in for a service there
// (or another server's SSH forward): it greets whoever connects, and counts.
class GreetingListener {
 public:
  explicit GreetingListener(const std::string& address) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;  // shut down
        ++accepted_;
        const char greeting[] = "kumo-host-greeting\n";
        ssize_t ignored = write(c, greeting, sizeof greeting - 1);
        (void)ignored;
        close(c);
      }
    });
  }
  ~GreetingListener() {
    shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// Runs a program to its end; true if it exited 0.
bool Run(const std::vector<std::string>& argv, const testing::TempDir& dir, std::string* log) {
  testing::ChildProcess p;
  std::string err;
  if (!p.Start(argv, dir / "commands.log", &err)) {
    *log += err + "\n";
    return false;
  }
  int status = p.WaitExit(20s);
  bool ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) *log += testing::ReadFile(dir / "commands.log");
  return ok;
}

// The world outside the host, as far as a guest is concerned: a network
// namespace of the test's own behind a veth pair, with a web server in it.
// Only it and the host's loopback see the test's traffic.
class OutsideNetwork {
 public:
  bool Start(std::string* err) {
    const std::string id = std::to_string(getpid());
    ns_ = "kumo-iso-" + id;
    const std::string host_if = "kih" + id;
    const std::string ns_if = "kin" + id;
    const int subnet = (getpid() % 64) * 4;
    const std::string prefix = "10.213." + std::to_string(getpid() / 64 % 256) + ".";
    const std::string host_addr = prefix + std::to_string(subnet + 1);
    address_ = prefix + std::to_string(subnet + 2);
    std::filesystem::create_directories(dir_ / "www");
    testing::WriteFile(dir_ / "www/token.txt", "outside-" + id + "\n");
    const std::string ip = "/usr/sbin/ip";
    const std::vector<std::vector<std::string>> setup = {
        {ip, "netns", "add", ns_},
        {ip, "link", "add", host_if, "type", "veth", "peer", "name", ns_if},
        {ip, "link", "set", ns_if, "netns", ns_},
        {ip, "addr", "add", host_addr + "/30", "dev", host_if},
        {ip, "link", "set", host_if, "up"},
        {ip, "netns", "exec", ns_, ip, "addr", "add", address_ + "/30", "dev", ns_if},
        {ip, "netns", "exec", ns_, ip, "link", "set", ns_if, "up"},
        {ip, "netns", "exec", ns_, ip, "link", "set", "lo", "up"},
    };
    for (const auto& argv : setup) {
      created_ = true;
      if (!Run(argv, dir_, err)) return false;
    }
    return web_.Start({ip, "netns", "exec", ns_, "/bin/busybox", "httpd", "-f", "-p",
                       address_ + ":" + std::to_string(kPort), "-h", dir_ / "www"},
                      dir_ / "httpd.log", err);
  }
  ~OutsideNetwork() {
    web_.Stop();
    std::string ignored;
    if (created_) Run({"/usr/sbin/ip", "netns", "del", ns_}, dir_, &ignored);  // and its veth
  }
  std::string url() const {
    return "http://" + address_ + ":" + std::to_string(kPort) + "/token.txt";
  }
  std::string token() const { return "outside-" + std::to_string(getpid()); }

 private:
  static constexpr int kPort = 8080;
  testing::TempDir dir_;
  std::string ns_;
  std::string address_;
  bool created_ = false;
  testing::ChildProcess web_;
};

// The host's first IPv4 address that is not loopback, or "".
std::string HostAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* a = list; a && found.empty(); a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || (a->ifa_flags & IFF_LOOPBACK))
      continue;
    char text[INET_ADDRSTRLEN];
    auto* in = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
    if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text)) found = text;
  }
  freeifaddrs(list);
  return found;
}

class Isolation : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "kumod runs QEMU as another user only as root";
    struct passwd* pw = getpwnam("kumo-qemu");
    ASSERT_NE(pw, nullptr) << "scripts/install-deps.sh creates the user kumo-qemu";
    qemu_uid_ = pw->pw_uid;
    std::string err;
    ASSERT_TRUE(kumod_.Start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- kumod log ---\n" << kumod_.log() << "\n";
  }

  uid_t qemu_uid_ = 0;
  KumodHarness kumod_;
};

TEST_F(Isolation, QemuRunsAsItsOwnUserInAStrictSandbox) {
  EXPECT_NE(kumod_.log().find("QEMU runs as user kumo-qemu"), std::string::npos) << kumod_.log();
  auto r = kumod_.Call("POST", "/v1/servers", {{"name", "jail"}, {"memory_mib", 192}});
  ASSERT_EQ(r.status, 201) << r.body;
  json s = kumod_.WaitStatus("jail", "running", kBootTimeout);
  ASSERT_EQ(s["status"], "running") << s.dump();
  int64_t pid = s["qemu_pid"].get<int64_t>();

  auto status = ProcStatus(pid);
  const std::string uid = std::to_string(qemu_uid_);
  EXPECT_EQ(status["Uid"],
            uid + "\t" + uid + "\t" + uid + "\t" + uid);  // real, effective, saved, fs
  EXPECT_EQ(status["Groups"], "");
  EXPECT_EQ(status["Seccomp"], "2");  // a filter: -sandbox on
  EXPECT_EQ(status["NoNewPrivs"], "1");
  EXPECT_EQ(status["CapEff"], "0000000000000000");

  // Its run directory is its own and private; the state directory lets it
  // through, but not read kumod's files.
  const std::string run_dir = kumod_.state_dir() + "/servers/jail";
  struct stat st {};
  ASSERT_EQ(stat(run_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, qemu_uid_);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat(kumod_.state_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0710u);
  ASSERT_EQ(stat((kumod_.state_dir() + "/kumod.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u) << "the database is readable by others";

  // The agent answers through the sockets of the unprivileged QEMU.
  auto exec = kumod_.Exec("jail", {"/bin/cat", "/proc/uptime"});
  EXPECT_EQ(exec.status, 200) << exec.body;

  // Graceful stop, start again (the overlay is reused), force stop.
  auto stop = kumod_.Call("POST", "/v1/servers/jail/actions", {{"action", "stop"}});
  EXPECT_EQ(stop.status, 202) << stop.body;
  EXPECT_EQ(kumod_.WaitStatus("jail", "stopped", 60)["status"], "stopped");
  auto start = kumod_.Call("POST", "/v1/servers/jail/actions", {{"action", "start"}});
  EXPECT_EQ(start.status, 202) << start.body;
  s = kumod_.WaitStatus("jail", "running", kBootTimeout);
  ASSERT_EQ(s["status"], "running") << s.dump();
  pid = s["qemu_pid"].get<int64_t>();
  EXPECT_EQ(ProcStatus(pid)["Uid"].substr(0, uid.size() + 1), uid + "\t");
  auto force =
      kumod_.Call("POST", "/v1/servers/jail/actions", {{"action", "stop"}, {"force", true}});
  EXPECT_EQ(force.status, 202) << force.body;
  EXPECT_EQ(kumod_.WaitStatus("jail", "stopped", 10)["status"], "stopped");
  std::string state = ProcStatus(pid)["State"];  // gone, or a zombie left to init
  EXPECT_TRUE(state.empty() || state[0] == 'Z') << "QEMU still runs after a force stop: " << state;
}

TEST_F(Isolation, KumodRefusesToRunQemuAsRootWhenItsUserIsMissing) {
  testing::TempDir dir;
  testing::ChildProcess second;
  std::string err;
  ASSERT_TRUE(second.Start({KUMOD_PATH, "--state-dir", dir / "state", "--listen", "127.0.0.1:0",
                            "--accel", "tcg", "--qemu-user", "kumo-no-such-user"},
                           dir / "kumod.log", &err))
      << err;
  int exit_status = second.WaitExit(10s);
  std::string log = testing::ReadFile(dir / "kumod.log");
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 1) << log;
  EXPECT_NE(log.find("the QEMU user 'kumo-no-such-user' does not exist"), std::string::npos) << log;
  EXPECT_NE(log.find("useradd --system"), std::string::npos) << log;
}

// The guest's command that prints the document at `url`. (busybox 1.35's
// wget crashes with -T: timeout bounds it instead.)
std::vector<std::string> Wget(const std::string& url) {
  return {"/bin/busybox", "timeout", "10", "/bin/busybox", "wget", "-q", "-O", "-", url};
}

// Connects to 127.0.0.1:port from the host and reads what the server says
// first ("SSH-2.0-…" for an SSH server); "" if nothing within 10 s.
std::string Banner(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string banner;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    banner = testing::ReadFdUntil(fd, "\n", 10s);
  }
  close(fd);
  return banner;
}

TEST_F(Isolation, GuestReachesNothingOnTheHostButItsForwardAndGetsOut) {
  EXPECT_NE(kumod_.log().find("guest isolation on"), std::string::npos) << kumod_.log();
  OutsideNetwork outside;
  std::string err;
  ASSERT_TRUE(outside.Start(&err)) << err;
  GreetingListener service("127.0.0.1");   // a service on the host's loopback
  GreetingListener forward("127.0.0.1");   // stands in for another server's SSH forward
  GreetingListener everywhere("0.0.0.0");  // a service on every address of the host
  ASSERT_GT(service.port(), 0);
  ASSERT_GT(forward.port(), 0);
  ASSERT_GT(everywhere.port(), 0);
  const std::string host_address = HostAddress();

  auto r = kumod_.Call("POST", "/v1/servers", {{"name", "net"}, {"memory_mib", 192}});
  ASSERT_EQ(r.status, 201) << r.body;
  json s = kumod_.WaitStatus("net", "running", kBootTimeout);
  ASSERT_EQ(s["status"], "running") << s.dump();

  // Out: the guest reaches a web server beyond the host (its network may
  // still be coming up when the agent first answers).
  std::string fetched;
  for (int i = 0; i < 15 && fetched.find(outside.token()) == std::string::npos; ++i) {
    auto get = kumod_.Exec("net", Wget(outside.url()));
    if (get.status == 200) fetched = get.json()["stdout"].get<std::string>();
    if (fetched.find(outside.token()) == std::string::npos) std::this_thread::sleep_for(1s);
  }
  EXPECT_NE(fetched.find(outside.token()), std::string::npos) << "the guest cannot get out";

  // Not to the host: each connection is refused at once.
  auto connects = [&](const std::string& host, int port) {
    auto nc = kumod_.Exec("net", {"/bin/busybox", "nc", "-w", "5", host, std::to_string(port)});
    EXPECT_EQ(nc.status, 200) << nc.body;
    return nc.json().value("stdout", "").find("kumo-host-greeting") != std::string::npos;
  };
  EXPECT_FALSE(connects("10.0.2.2", service.port())) << "the guest reached a loopback service";
  EXPECT_FALSE(connects("10.0.2.2", forward.port())) << "the guest reached another SSH forward";
  if (!host_address.empty()) {
    EXPECT_FALSE(connects(host_address, everywhere.port()))
        << "the guest reached the host at " << host_address;
  }
  auto api =
      kumod_.Exec("net", Wget("http://10.0.2.2:" + std::to_string(kumod_.port()) + "/healthz"));
  ASSERT_EQ(api.status, 200) << api.body;
  EXPECT_NE(api.json()["exit_code"], 0) << "the guest reached kumod's API: " << api.body;
  EXPECT_EQ(api.json()["stdout"], "");
  EXPECT_EQ(service.accepted(), 0);
  EXPECT_EQ(forward.accepted(), 0);
  EXPECT_EQ(everywhere.accepted(), 0);

  // What kumo publishes still works: the host reaches the guest's SSH server.
  EXPECT_EQ(Banner(s["ssh_port"].get<int>()).rfind("SSH-", 0), 0u);
}

}  // namespace
}  // namespace kumo
