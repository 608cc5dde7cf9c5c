// Fuzzes kumo-agent's request path the way bytes arrive from the host: the
// input is one channel stream, fed to QgaFramer in chunks, and every framed
// message is dispatched with every command registered. Commands that start
// processes (guest-exec, guest-shutdown, guest-set-user-password) or change
// the system (guest-set-time, guest-fsfreeze-freeze*, guest-fstrim,
// guest-file-open) are off, so the fuzzer never touches the machine it runs on.
//
// Invariants (a violation aborts):
//  - framing does not depend on how the stream is cut into reads;
//  - the framer never holds or allocates more than the max message size;
//  - every message and framing error gets exactly one reply line, valid JSON
//    after an optional leading 0xFF, with exactly one of "return" / "error".
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "agent/commands.h"
#include "agent/exec_manager.h"
#include "agent/oom_watch.h"
#include "agent/qga_dispatcher.h"
#include "qga/qga_framer.h"

namespace {

using kumo::agent::QgaDispatcher;
using kumo::qga::FramedItem;
using kumo::qga::QgaFramer;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "agent_request_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

// FNV-1a: chunking and limits follow the data, so a crash reproduces from the
// input alone and mutations explore different cuts.
uint64_t Hash(std::string_view data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) h = (h ^ c) * 1099511628211ull;
  return h;
}

const QgaDispatcher& Dispatcher() {
  static kumo::agent::ExecManager exec;
  static kumo::agent::OomWatch oom;  // not opened: no kernel log in the fuzzer
  static kumo::agent::GuestFiles files;
  static kumo::agent::AgentSettings settings{
      .allow_exec = false, .allow_shutdown = false, .allow_system_changes = false};
  static QgaDispatcher* dispatcher = [] {
    auto* d = new QgaDispatcher;
    kumo::agent::RegisterCommands(*d, settings, {exec, oom, files});
    d->Disable("guest-set-user-password");  // would run chpasswd on this host
    d->Disable("guest-file-open");          // would create and truncate files on this host
    d->Disable("guest-fstrim");             // would trim this host's disks
    return d;
  }();
  return *dispatcher;
}

void CheckReply(const std::string& bytes) {
  std::string_view text = bytes;
  if (!text.empty() && static_cast<unsigned char>(text.front()) == 0xFF) text.remove_prefix(1);
  if (text.empty() || text.back() != '\n' || text.find('\n') != text.size() - 1) {
    Fail("reply is not exactly one line");
  }
  auto reply = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded() || !reply.is_object()) Fail("reply is not a JSON object");
  if (reply.contains("return") == reply.contains("error")) {
    Fail("reply needs exactly one of return/error");
  }
}

std::vector<FramedItem> FeedInChunks(std::string_view data, size_t max_message_bytes, uint64_t h) {
  std::vector<size_t> cuts = {0, data.size()};
  for (int i = 0; i < static_cast<int>(h % 4); ++i) {
    cuts.push_back((h >> (16 * i)) % (data.size() + 1));
  }
  std::sort(cuts.begin(), cuts.end());
  QgaFramer framer(max_message_bytes);
  std::vector<FramedItem> items;
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    framer.Feed(data.substr(cuts[i], cuts[i + 1] - cuts[i]), items);
    if (framer.buffered_bytes() > max_message_bytes) Fail("framer buffers too much");
    if (framer.capacity_bytes() > max_message_bytes) Fail("framer allocates too much");
  }
  return items;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  uint64_t h = Hash(data);
  // Half the runs use a small limit so the oversize path is reached.
  size_t max_message_bytes = (h & 0x100) ? QgaFramer::kMaxRequestBytes : 256;

  std::vector<FramedItem> items = FeedInChunks(data, max_message_bytes, h);
  std::vector<FramedItem> whole;
  QgaFramer(max_message_bytes).Feed(data, whole);
  if (whole.size() != items.size()) Fail("framing depends on chunking");
  for (size_t i = 0; i < items.size(); ++i) {
    if (whole[i].kind != items[i].kind || whole[i].text != items[i].text) {
      Fail("framing depends on chunking");
    }
  }

  const QgaDispatcher& dispatcher = Dispatcher();
  for (const FramedItem& item : items) {
    if (item.kind == FramedItem::Kind::kError) {
      CheckReply(QgaDispatcher::FormatError({"GenericError", item.text}).bytes);
      continue;
    }
    auto reply = dispatcher.Dispatch(item.text);
    if (!reply) Fail("no reply (only guest-shutdown may stay silent, and it is off)");
    CheckReply(reply->bytes);
  }
  return 0;
}
