#include "hypervisor/qemu_survey.h"

#include <dirent.h>

#include <fstream>
#include <sstream>

#include "hypervisor/qemu_argv.h"

namespace kumo::hypervisor {

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
