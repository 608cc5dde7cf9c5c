// `kumo images import NAME PATH`: POST /v1/images (a file on kumod's host).
#include "cli/commands.h"
#include "cli/server_view.h"

namespace kumo::cli {

int ImportImage(Context& ctx, const ImageImportOptions& options) {
  json body = {{"name", options.name}, {"path", options.path}};
  if (options.firmware) body["firmware"] = *options.firmware;
  if (options.login_user) body["login_user"] = *options.login_user;
  if (options.agent_kind) body["agent_kind"] = *options.agent_kind;
  if (options.os) body["os"] = *options.os;
  if (options.user_data_support) body["user_data_support"] = *options.user_data_support;
  auto reply = ctx.api.Call("POST", "/v1/images", &body);
  if (!reply.ok()) return PrintError(reply.error(), ctx.json, ctx.out, ctx.err);
  return PrintNewImage(ctx, *reply, options.name, "imported");
}

int PrintNewImage(Context& ctx, const ApiReply& reply, const std::string& name, const char* done) {
  if (ctx.json) {
    ctx.out << reply.raw << (reply.raw.ends_with("\n") ? "" : "\n") << std::flush;
  } else {
    ctx.out << "image " << name << " " << done << "\n"
            << ImageTable(json{{"images", json::array({reply.body})}}) << std::flush;
  }
  return kExitOk;
}

}  // namespace kumo::cli
