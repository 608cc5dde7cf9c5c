// `kumo images delete NAME`: DELETE /v1/images/NAME.
#include "cli/api_url.h"
#include "cli/commands.h"

namespace kumo::cli {

int DeleteImage(Context& ctx, const std::string& name) {
  auto reply = ctx.api.Call("DELETE", "/v1/images/" + EncodePathSegment(name));
  if (!reply.ok()) return PrintError(reply.error(), ctx.json, ctx.out, ctx.err);
  if (ctx.json) {
    ctx.out << reply->raw << (reply->raw.ends_with("\n") ? "" : "\n") << std::flush;
  } else {
    ctx.out << "image " << name << " deleted\n" << std::flush;
  }
  return kExitOk;
}

}  // namespace kumo::cli
