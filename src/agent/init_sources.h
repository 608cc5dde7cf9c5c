// Which record kumo-init-status answers from: kumo-init's (the kumo image)
// if it has one, else cloud-init's (a stock cloud image with kumo-agent
// installed in place of qemu-ga). Both give the reply of init_status.h.
#pragma once

#include <string>

#include "agent/cloud_init_status.h"
#include "agent/init_status.h"

namespace kumo::agent {

struct InitSources {
  std::string kumo_init_dir = kInitStateDir;
  CloudInitPaths cloud_init;
};

// kumo-init's result.json if it exists, else cloud-init's record if
// cloud-init runs this boot (cloud_init_status.h); false with *err naming
// both when neither does, or the problem with the one chosen.
bool ReadInitStatusFromSources(const InitSources& sources, json* out, std::string* err);

}  // namespace kumo::agent
