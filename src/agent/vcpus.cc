#include "agent/vcpus.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace kumo::agent {

nlohmann::json Vcpus(const std::string& cpu_dir) {
  std::vector<long> ids;
  if (DIR* dir = opendir(cpu_dir.c_str())) {
    while (dirent* e = readdir(dir)) {
      std::string name = e->d_name;
      if (name.size() < 4 || name.size() > 10 || name.compare(0, 3, "cpu") != 0) continue;
      if (!std::all_of(name.begin() + 3, name.end(), [](char c) { return std::isdigit(c); })) {
        continue;
      }
      ids.push_back(std::stol(name.substr(3)));
    }
    closedir(dir);
  }
  std::sort(ids.rbegin(), ids.rend());
  nlohmann::json out = nlohmann::json::array();
  for (long id : ids) {
    std::string online_path = cpu_dir + "/cpu" + std::to_string(id) + "/online";
    char c = '1';
    int fd = open(online_path.c_str(), O_RDONLY | O_CLOEXEC);
    bool can_offline = fd >= 0;
    if (fd >= 0) {
      if (read(fd, &c, 1) != 1) c = '1';
      close(fd);
    }
    out.push_back({{"logical-id", id}, {"online", c != '0'}, {"can-offline", can_offline}});
  }
  return out;
}

}  // namespace kumo::agent
