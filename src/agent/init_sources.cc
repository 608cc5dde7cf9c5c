#include "agent/init_sources.h"

#include <sys/stat.h>

namespace kumo::agent {
namespace {

// Looked for as ReadInitStatus reads it: without following a link.
bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

}  // namespace

bool ReadInitStatusFromSources(const InitSources& sources, json* out, std::string* err) {
  const std::string kumo_init = sources.kumo_init_dir + "/result.json";
  if (Exists(kumo_init)) return ReadInitStatus(sources.kumo_init_dir, out, err);
  if (CloudInitRunsThisBoot(sources.cloud_init)) {
    return ReadCloudInitStatus(sources.cloud_init, out, err);
  }
  *err = "nothing has recorded the user data's progress: neither kumo-init's " + kumo_init +
         " nor cloud-init's " + sources.cloud_init.run_dir +
         "/status.json exists (the image runs neither)";
  return false;
}

}  // namespace kumo::agent
