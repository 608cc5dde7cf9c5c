#include "hostnet/guest_firewall.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

extern char** environ;

namespace kumo::hostnet {
namespace {

// The canonical text of a loopback address, or "" if `text` is not one.
std::string CanonicalLoopback(const std::string& text) {
  char out[INET6_ADDRSTRLEN] = {};
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    if ((ntohl(v4.s_addr) >> 24) != 127) return "";
    return inet_ntop(AF_INET, &v4, out, sizeof out) ? out : "";
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6)) {
    return inet_ntop(AF_INET6, &v6, out, sizeof out) ? out : "";
  }
  return "";
}

void WriteAll(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

std::vector<std::string> LoopbackNameservers(std::string_view resolv_conf) {
  std::vector<std::string> found;
  std::istringstream in{std::string(resolv_conf)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key;
    std::string address;
    if (!(words >> key >> address) || key != "nameserver") continue;
    std::string canonical = CanonicalLoopback(address);
    if (canonical.empty()) continue;
    bool seen = false;
    for (const std::string& f : found) seen = seen || f == canonical;
    if (!seen) found.push_back(canonical);
  }
  return found;
}

std::string BuildGuestFirewall(uid_t qemu_uid, const std::vector<std::string>& loopback_dns) {
  const std::string table = std::string("inet ") + kTableName;
  std::string s;
  // Declaring the table first makes the delete valid on a first start; the
  // whole script is one transaction, so the rules are never absent.
  s += "table " + table + "\n";
  s += "delete table " + table + "\n";
  s += "table " + table + " {\n";
  s += "  chain output {\n";
  s += "    type filter hook output priority filter; policy accept;\n";
  const std::string guest = "    meta skuid " + std::to_string(qemu_uid) + " ct state new ";
  s += guest + "fib daddr type local jump guest_to_host\n";
  // Link-local: where a cloud's metadata service hands out the host's keys.
  s += guest + "ip daddr 169.254.0.0/16 jump guest_to_host\n";
  s += guest + "ip6 daddr fe80::/10 jump guest_to_host\n";
  s += "  }\n";
  s += "  chain guest_to_host {\n";
  for (const std::string& dns : loopback_dns) {
    std::string family = dns.find(':') == std::string::npos ? "ip" : "ip6";
    for (const char* proto : {"udp", "tcp"}) {
      s += "    " + family + " daddr " + dns + " " + proto + " dport 53 accept\n";
    }
  }
  s += "    meta l4proto tcp reject with tcp reset\n";
  s += "    reject with icmpx admin-prohibited\n";
  s += "  }\n";
  s += "}\n";
  return s;
}

Status ApplyNftScript(const std::string& script, const std::string& nft) {
  int in[2];
  int out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return Status(codes::kInternal, "pipe2 failed");
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return Status(codes::kInternal, "pipe2 failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  std::vector<std::string> argv = {nft, "-f", "-"};
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, nft.c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    return Status(codes::kInternal, "cannot run " + nft + ": " + strerror(rc),
                  "install nftables (scripts/install-deps.sh does)");
  }
  // The script is far smaller than a pipe's buffer: write it all, then read.
  // An nft that exits early must not kill kumod with SIGPIPE.
  struct sigaction ignore {};
  struct sigaction old {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &old);
  WriteAll(in[1], script);
  sigaction(SIGPIPE, &old, nullptr);
  close(in[1]);
  std::string output;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    output.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  return Status(codes::kInternal, "nft could not install the guest firewall: " + output,
                "kumod needs root (CAP_NET_ADMIN) and nftables; or start it with "
                "--guest-isolation off (guests then reach the host's loopback)");
}

}  // namespace kumo::hostnet
