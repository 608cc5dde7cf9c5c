// guest-file-* commands: argument parsing around GuestFiles.
#include "agent/commands.h"
#include "common/base64.h"

namespace kumo::agent {
namespace {

CommandResult From(FileResult r) {
  return r.ok ? CommandResult::Return(std::move(r.value)) : CommandResult::Error(r.error);
}

}  // namespace

void RegisterFileCommands(QgaDispatcher& d, GuestFiles& files) {
  d.Add({"guest-file-open", {"path", "mode"}, [&files](const Arguments& a) {
           return From(
               files.Open(a.RequiredString("path"), a.OptionalString("mode").value_or("r")));
         }});
  d.Add({"guest-file-read", {"handle", "count"}, [&files](const Arguments& a) {
           int64_t handle = a.RequiredInt("handle");
           return From(
               files.Read(handle, a.OptionalInt("count").value_or(GuestFiles::kDefaultReadCount)));
         }});
  d.Add({"guest-file-write", {"handle", "buf-b64", "count"}, [&files](const Arguments& a) {
           int64_t handle = a.RequiredInt("handle");
           auto data = Base64Decode(a.RequiredString("buf-b64"));
           if (!data) return CommandResult::Error("Base64 data contains invalid characters");
           int64_t count = a.OptionalInt("count").value_or(int64_t(data->size()));
           return From(files.Write(handle, *data, count));
         }});
  d.Add({"guest-file-seek", {"handle", "offset", "whence"}, [&files](const Arguments& a) {
           int64_t handle = a.RequiredInt("handle");
           int64_t offset = a.RequiredInt("offset");
           const json* whence = a.Find("whence");
           if (!whence) return CommandResult::Error("Parameter 'whence' is missing");
           return From(files.Seek(handle, offset, *whence));
         }});
  d.Add({"guest-file-flush", {"handle"}, [&files](const Arguments& a) {
           return From(files.Flush(a.RequiredInt("handle")));
         }});
  d.Add({"guest-file-close", {"handle"}, [&files](const Arguments& a) {
           return From(files.Close(a.RequiredInt("handle")));
         }});
}

}  // namespace kumo::agent
