#include "agent/init_sources.h"

#include <sys/stat.h>

namespace kumo::agent {
namespace {

// kumo-init's record is read without following links, cloud-init's through
// them (init_status.h, Symlinks): each is looked for the way it is read.
bool Exists(const std::string& path, Symlinks symlinks) {
  struct stat st {};
  return (symlinks == Symlinks::kFollow ? stat(path.c_str(), &st) : lstat(path.c_str(), &st)) == 0;
}

}  // namespace

bool ReadInitStatusFromSources(const InitSources& sources, json* out, std::string* err) {
  const std::string kumo_init = sources.kumo_init_dir + "/result.json";
  const std::string cloud_init = sources.cloud_init.run_dir + "/status.json";
  if (Exists(kumo_init, Symlinks::kRefuse)) return ReadInitStatus(sources.kumo_init_dir, out, err);
  if (Exists(cloud_init, Symlinks::kFollow))
    return ReadCloudInitStatus(sources.cloud_init, out, err);
  *err = "nothing has recorded the user data's progress: neither kumo-init's " + kumo_init +
         " nor cloud-init's " + cloud_init +
         " exists (the image runs neither, or it has not started yet)";
  return false;
}

}  // namespace kumo::agent
