// Fuzzes what kumod does with user data given at create, the one large
// free-form input of the API: CheckUserData (kind, YAML parsing of
// #cloud-config, the subset's type checks) and, for accepted data, the seed
// files the guest will read. Run with the sanitizers.
//
// Invariants (a violation aborts):
//  - no crash, hang or exception escapes, whatever the bytes;
//  - more than 64 KiB is refused;
//  - accepted user data always makes a seed; its files have relative paths
//    without "..", and user-data holds the input verbatim.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cloudinit/seed.h"
#include "cloudinit/user_data.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string user_data(reinterpret_cast<const char*>(data), size);
  auto report = kumo::cloudinit::CheckUserData(user_data);
  if (size > kumo::cloudinit::kMaxUserDataBytes) Check(!report.ok(), "over 64 KiB was accepted");
  if (!report.ok()) {
    Check(!report.status().message().empty(), "a refusal without a message");
    return 0;
  }
  auto files = kumo::cloudinit::SeedFiles({"i-fuzz", "fuzz", user_data, ""});
  Check(files.ok(), "accepted user data made no seed");
  bool has_user_data = false;
  for (const auto& f : *files) {
    Check(!f.path.empty() && f.path[0] != '/', "a seed path is absolute");
    Check(f.path.find("..") == std::string::npos, "a seed path has '..'");
    if (f.path == "user-data") has_user_data = f.content == user_data;
  }
  Check(has_user_data, "user-data is not the input verbatim");
  return 0;
}
