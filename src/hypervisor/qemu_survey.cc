#include "hypervisor/qemu_survey.h"

#include <dirent.h>

#include <fstream>
#include <sstream>

namespace kumo::hypervisor {

std::string QmpSocketOfCmdline(std::string_view proc_cmdline) {
  size_t start = 0;
  while (start < proc_cmdline.size()) {
    size_t end = proc_cmdline.find('\0', start);
    if (end == std::string_view::npos) end = proc_cmdline.size();
    std::string_view arg = proc_cmdline.substr(start, end - start);
    start = end + 1;
    if (!arg.starts_with("socket,") || arg.find(",id=qmp,") == std::string_view::npos) continue;
    size_t at = arg.find(",path=");
    if (at == std::string_view::npos) continue;
    at += 6;
    size_t stop = arg.find(',', at);
    return std::string(arg.substr(at, stop == std::string_view::npos ? arg.npos : stop - at));
  }
  return "";
}

std::map<std::string, std::vector<int64_t>> FindQemus(const std::vector<MachinePaths>& machines,
                                                      const std::string& proc_root) {
  std::map<std::string, std::string> run_dir_of_qmp;
  for (const MachinePaths& m : machines) run_dir_of_qmp[m.qmp_socket()] = m.run_dir;
  std::map<std::string, std::vector<int64_t>> found;
  DIR* dir = opendir(proc_root.c_str());
  if (!dir) return found;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long pid = strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::ifstream in(proc_root + "/" + entry->d_name + "/cmdline", std::ios::binary);
    if (!in) continue;  // gone meanwhile
    std::stringstream cmdline;
    cmdline << in.rdbuf();
    auto it = run_dir_of_qmp.find(QmpSocketOfCmdline(cmdline.str()));
    if (it != run_dir_of_qmp.end()) found[it->second].push_back(pid);
  }
  closedir(dir);
  return found;
}

}  // namespace kumo::hypervisor
