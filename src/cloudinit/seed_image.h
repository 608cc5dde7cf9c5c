// The seed directory made into the disk a guest boots with: an ISO9660 image
// with Joliet and Rock Ridge, volume id `cidata` (what cloud-init's NoCloud
// datasource and the kumo image look for). Built by genisoimage, run from an
// argv (never a shell).
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"

namespace kumo::cloudinit {

inline constexpr char kSeedVolumeId[] = "cidata";

// Runs `genisoimage -quiet -output IMAGE.tmp -volid cidata -joliet -rock DIR`
// and renames the result to `image_path` (0600), so a reader never sees half
// an image. Blocks until genisoimage ends (tens of milliseconds for a seed);
// kills it after `timeout`.
// Errors: Internal, with genisoimage's own message (or a hint to install it).
Status BuildSeedImage(const std::string& dir, const std::string& image_path,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace kumo::cloudinit
