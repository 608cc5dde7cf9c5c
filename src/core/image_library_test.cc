#include "core/image_library.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "core/image_upload.h"
#include "hypervisor/spawn.h"
#include "store/sqlite_store.h"
#include "support/child_process.h"

namespace kumo::core {
namespace {

struct ImportCase {
  const char* what;
  void (*change)(ImageImport&);
  const char* field;  // "" when ok
};

TEST(ValidateImageImport, Table) {
  const std::vector<ImportCase> cases = {
      {"good", [](ImageImport&) {}, ""},
      {"uefi qemu-ga", [](ImageImport& i) { i.firmware = "uefi", i.agent_kind = "qemu-ga"; }, ""},
      {"no agent", [](ImageImport& i) { i.agent_kind = "none"; }, ""},
      {"upper-case name", [](ImageImport& i) { i.name = "Debian"; }, "name"},
      {"name with a slash", [](ImageImport& i) { i.name = "a/../b"; }, "name"},
      {"name with dots", [](ImageImport& i) { i.name = ".."; }, "name"},
      {"relative path", [](ImageImport& i) { i.path = "disk.qcow2"; }, "path"},
      {"empty path", [](ImageImport& i) { i.path = ""; }, "path"},
      {"firmware", [](ImageImport& i) { i.firmware = "coreboot"; }, "firmware"},
      {"agent kind", [](ImageImport& i) { i.agent_kind = "vmtools"; }, "agent_kind"},
      {"login user with a space", [](ImageImport& i) { i.login_user = "a b"; }, "login_user"},
      {"empty login user", [](ImageImport& i) { i.login_user = ""; }, "login_user"},
      {"os with a newline", [](ImageImport& i) { i.os = "Debian\n12"; }, "os"},
      {"os too long", [](ImageImport& i) { i.os = std::string(201, 'x'); }, "os"},
      {"cloud-init", [](ImageImport& i) { i.user_data_support = "cloud-init"; }, ""},
      {"user data support", [](ImageImport& i) { i.user_data_support = "ignition"; },
       "user_data_support"},
  };
  for (const auto& c : cases) {
    ImageImport import{"debian-12", "/srv/debian.qcow2"};
    c.change(import);
    Status s = ValidateImageImport(import);
    EXPECT_EQ(s.ok(), std::string(c.field).empty()) << c.what << ": " << s.ToString();
    if (!s.ok()) {
      EXPECT_EQ(s.code(), codes::kInvalidArgument) << c.what;
      EXPECT_EQ(s.field(), c.field) << c.what;
    }
  }
}

// Real files, real qemu-img, a real SQLite store.
class ImageLibraryTest : public ::testing::Test {
 protected:
  ImageLibraryTest() {
    std::filesystem::create_directories(state_ / "");
    auto opened = store::SqliteStore::Open(state_ / "kumod.db");
    EXPECT_TRUE(opened.ok());
    store_ = std::move(*opened);
    library_ = std::make_unique<ImageLibrary>(
        io_, *store_, ImageLibraryConfig{state_.path().string()},
        [this](const std::string& image) { return image == "used" ? users_ : Users{}; });
  }
  using Users = std::vector<std::string>;

  Result<ImageRecord> Import(const ImageImport& import) {
    std::optional<Result<ImageRecord>> result;
    library_->Import(import, 42, [&](Result<ImageRecord> r) { result = std::move(r); });
    while (!result) {
      io_.restart();
      io_.run_for(std::chrono::milliseconds(5));
    }
    return *result;
  }

  void QemuImg(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"qemu-img"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto pid = hypervisor::SpawnProcess(argv, "/dev/null");
    ASSERT_TRUE(pid.ok());
    int status = 0;
    waitpid(*pid, &status, 0);
    ASSERT_EQ(status, 0);
  }

  // What the images directory holds (nothing left behind by a refusal).
  std::vector<std::string> ImagesDirEntries() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(library_->images_dir(), ec)) {
      names.push_back(e.path().filename().string());
    }
    return names;
  }

  // Uploads `bytes` in 64 KiB chunks and finishes.
  Result<ImageRecord> Upload(const ImageImport& meta, const std::string& bytes) {
    auto upload = library_->BeginUpload(meta, bytes.size());
    if (!upload.ok()) return upload.status();
    for (size_t at = 0; at < bytes.size(); at += 65536) {
      std::string_view chunk = std::string_view(bytes).substr(at, 65536);
      if (Status s = (*upload)->Write(chunk.data(), chunk.size()); !s.ok()) return s;
    }
    std::optional<Result<ImageRecord>> result;
    (*upload)->Finish(42, [&](Result<ImageRecord> r) { result = std::move(r); });
    while (!result) {
      io_.restart();
      io_.run_for(std::chrono::milliseconds(5));
    }
    return *result;
  }

  testing::TempDir files_;
  testing::TempDir state_;
  boost::asio::io_context io_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ImageLibrary> library_;
  Users users_;
};

TEST_F(ImageLibraryTest, ImportsAQcow2CopyAndStoresItsMetadata) {
  QemuImg({"create", "-q", "-f", "qcow2", files_ / "debian.qcow2", "2G"});
  ImageImport import{"debian", files_ / "debian.qcow2", "uefi", "debian", "qemu-ga", "Debian 12"};
  Result<ImageRecord> image = Import(import);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->disk, library_->images_dir() + "/debian/disk.qcow2");
  EXPECT_EQ(image->format, "qcow2");
  EXPECT_EQ(image->virtual_size_bytes, int64_t{2} << 30);
  EXPECT_TRUE(image->imported);
  auto stored = store_->GetImage("debian");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->firmware, "uefi");
  EXPECT_EQ(stored->login_user, "debian");
  EXPECT_EQ(stored->agent_kind, "qemu-ga");
  EXPECT_EQ(stored->os, "Debian 12");
  // A copy: the source is the operator's and may go away.
  EXPECT_EQ(testing::ReadFile(stored->disk), testing::ReadFile(files_ / "debian.qcow2"));
  EXPECT_EQ(ImagesDirEntries(), std::vector<std::string>{"debian"});

  Result<ImageRecord> again = Import(import);
  EXPECT_EQ(again.status().code(), codes::kAlreadyExists);
  EXPECT_EQ(again.status().field(), "name");
}

TEST_F(ImageLibraryTest, ARawDiskIsKeptRawAndSparse) {
  QemuImg({"create", "-q", "-f", "raw", files_ / "disk.img", "1G"});
  Result<ImageRecord> image = Import({"rawdisk", files_ / "disk.img"});
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->format, "raw");
  EXPECT_EQ(image->disk, library_->images_dir() + "/rawdisk/disk.raw");
  struct stat st {};
  ASSERT_EQ(stat(image->disk.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, int64_t{1} << 30);
  EXPECT_LT(st.st_blocks * 512, int64_t{1} << 20);  // the holes stayed holes
}

TEST_F(ImageLibraryTest, RefusalsLeaveNothingBehind) {
  testing::WriteFile(files_ / "notes.txt", "not a disk\n");
  QemuImg({"create", "-q", "-f", "qcow2", files_ / "base.qcow2", "1G"});
  QemuImg({"create", "-q", "-f", "qcow2", "-b", files_ / "base.qcow2", "-F", "qcow2",
           files_ / "overlay.qcow2"});
  ASSERT_EQ(symlink((files_ / "base.qcow2").c_str(), (files_ / "link.qcow2").c_str()), 0);
  struct Case {
    std::string path;
    const char* message_part;
  };
  for (const Case& c : std::vector<Case>{{files_ / "notes.txt", "not a disk image"},
                                         {files_ / "overlay.qcow2", "backing file"},
                                         {files_ / "link.qcow2", "symlink"},
                                         {files_ / "missing.qcow2", "cannot open"},
                                         {files_.path().string(), "not a regular file"}}) {
    Result<ImageRecord> r = Import({"bad", c.path});
    ASSERT_FALSE(r.ok()) << c.path;
    EXPECT_EQ(r.status().code(), codes::kInvalidArgument) << c.path;
    EXPECT_EQ(r.status().field(), "path") << c.path;
    EXPECT_NE(r.status().message().find(c.message_part), std::string::npos) << r.status().message();
    EXPECT_TRUE(ImagesDirEntries().empty()) << c.path;
    EXPECT_FALSE(store_->GetImage("bad").has_value());
  }
}

TEST_F(ImageLibraryTest, AnImportThatWouldFillTheFilesystemIsRefusedBeforeCopying) {
  QemuImg({"create", "-q", "-f", "qcow2", files_ / "big.qcow2", "1G"});
  struct statvfs fs {};
  ASSERT_EQ(statvfs(state_.path().c_str(), &fs), 0);
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  // A library that must keep more free than there is: no room for any copy.
  ImageLibrary tight(io_, *store_,
                     ImageLibraryConfig{state_.path().string(), "qemu-img", std::nullopt,
                                        free_bytes + (uint64_t{1} << 30)},
                     [](const std::string&) { return Users{}; });
  std::optional<Result<ImageRecord>> result;
  tight.Import({"big", files_ / "big.qcow2"}, 42,
               [&](Result<ImageRecord> r) { result = std::move(r); });
  while (!result) {
    io_.restart();
    io_.run_for(std::chrono::milliseconds(5));
  }
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->status().code(), codes::kStoreFull);
  EXPECT_NE(result->status().message().find("not enough space for the image"), std::string::npos)
      << result->status().message();
  EXPECT_NE(result->status().message().find("must stay free"), std::string::npos);
  EXPECT_TRUE(ImagesDirEntries().empty());
  EXPECT_FALSE(store_->GetImage("big").has_value());
}

TEST_F(ImageLibraryTest, TheUserDataSupportFollowsTheAgentUnlessGiven) {
  QemuImg({"create", "-q", "-f", "qcow2", files_ / "a.qcow2", "1G"});
  ImageImport kumo{"kumo", files_ / "a.qcow2"};
  ImageImport stock{"stock", files_ / "a.qcow2", "bios", "debian", "qemu-ga"};
  ImageImport plain{"plain", files_ / "a.qcow2", "bios", "root", "kumo-agent", ""};
  plain.user_data_support = "none";
  EXPECT_EQ(Import(kumo)->user_data_support, "kumo");
  EXPECT_EQ(Import(stock)->user_data_support, "cloud-init");
  EXPECT_EQ(Import(plain)->user_data_support, "none");
  EXPECT_EQ(store_->GetImage("stock")->user_data_support, "cloud-init");
}

TEST_F(ImageLibraryTest, DeleteIsRefusedWhileUsedAndThenRemovesTheFiles) {
  QemuImg({"create", "-q", "-f", "qcow2", files_ / "a.qcow2", "1G"});
  ASSERT_TRUE(Import({"used", files_ / "a.qcow2"}).ok());
  users_ = {"s1", "s2", "s3", "s4", "s5", "s6", "s7"};
  Status refused = library_->Delete("used");
  EXPECT_EQ(refused.code(), codes::kInvalidState);
  EXPECT_NE(refused.message().find("7 servers: s1, s2, s3, s4, s5 and 2 more"), std::string::npos)
      << refused.message();
  EXPECT_TRUE(store_->GetImage("used").has_value());

  users_.clear();
  ASSERT_TRUE(library_->Delete("used").ok());
  EXPECT_FALSE(store_->GetImage("used").has_value());
  EXPECT_TRUE(ImagesDirEntries().empty());
  EXPECT_EQ(library_->Delete("used").code(), codes::kNotFound);
}

TEST_F(ImageLibraryTest, DeletingARegisteredImageLeavesItsFilesAlone) {
  testing::WriteFile(files_ / "rootfs.qcow2", "operator's");
  ImageRecord registered{"kumo-guest", "", "", files_ / "rootfs.qcow2", "", "", 1};
  ASSERT_TRUE(store_->PutImage(registered).ok());
  ASSERT_TRUE(library_->Delete("kumo-guest").ok());
  EXPECT_FALSE(store_->GetImage("kumo-guest").has_value());
  EXPECT_EQ(testing::ReadFile(files_ / "rootfs.qcow2"), "operator's");
}

TEST_F(ImageLibraryTest, AnImportAKumodDiedInIsCleanedUpAtStart) {
  std::filesystem::create_directories(library_->images_dir() + "/.import-web-abc123");
  testing::WriteFile(library_->images_dir() + "/.import-web-abc123/disk", "half");
  library_ =
      std::make_unique<ImageLibrary>(io_, *store_, ImageLibraryConfig{state_.path().string()},
                                     [](const std::string&) { return Users{}; });
  EXPECT_TRUE(ImagesDirEntries().empty());
}

TEST_F(ImageLibraryTest, AnUploadIsCheckedAndKeptLikeAnImport) {
  QemuImg({"create", "-q", "-f", "qcow2", files_ / "up.qcow2", "1G"});
  const std::string bytes = testing::ReadFile(files_ / "up.qcow2");
  ImageImport meta{"up", "", "uefi", "debian", "qemu-ga"};
  Result<ImageRecord> image = Upload(meta, bytes);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->disk, library_->images_dir() + "/up/disk.qcow2");
  EXPECT_EQ(image->virtual_size_bytes, int64_t{1} << 30);
  EXPECT_EQ(store_->GetImage("up")->firmware, "uefi");
  EXPECT_EQ(store_->GetImage("up")->user_data_support, "cloud-init");
  EXPECT_EQ(testing::ReadFile(image->disk), bytes);
  EXPECT_EQ(ImagesDirEntries(), std::vector<std::string>{"up"});
  EXPECT_EQ(Upload(meta, bytes).status().code(), codes::kAlreadyExists);
}

TEST_F(ImageLibraryTest, AnUploadIsRefusedBeforeItsBodyWhenItCannotBeKept) {
  struct statvfs fs {};
  ASSERT_EQ(statvfs(state_.path().c_str(), &fs), 0);
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  ImageLibrary small(io_, *store_,
                     ImageLibraryConfig{state_.path().string(), "qemu-img", std::nullopt,
                                        free_bytes, uint64_t{10} << 30},
                     [](const std::string&) { return Users{}; });
  struct Case {
    const char* what;
    ImageImport meta;
    uint64_t size;
    const char* code;
    const char* field;
  };
  for (const Case& c : std::vector<Case>{
           {"over the limit",
            {"big"},
            (uint64_t{10} << 30) + 1,
            codes::kPayloadTooLarge,
            "Content-Length"},
           {"empty", {"empty"}, 0, codes::kPayloadTooLarge, "Content-Length"},
           // It must leave free what is free now.
           {"no room", {"full"}, uint64_t{9} << 30, codes::kStoreFull, "Content-Length"},
           {"bad name", {"Bad"}, 1024, codes::kInvalidArgument, "name"},
           {"bad firmware", {"fw", "", "coreboot"}, 1024, codes::kInvalidArgument, "firmware"}}) {
    auto upload = small.BeginUpload(c.meta, c.size);
    ASSERT_FALSE(upload.ok()) << c.what;
    EXPECT_EQ(upload.status().code(), c.code) << c.what << ": " << upload.status().ToString();
    EXPECT_EQ(upload.status().field(), c.field) << c.what;
    EXPECT_TRUE(ImagesDirEntries().empty()) << c.what;
  }
  auto first = library_->BeginUpload({"taken"}, 1024);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(library_->BeginUpload({"taken"}, 1024).status().code(), codes::kAlreadyExists);
}

TEST_F(ImageLibraryTest, AnUploadCutShortOrNotAnImageLeavesNothingBehind) {
  QemuImg({"create", "-q", "-f", "qcow2", files_ / "base.qcow2", "1G"});
  QemuImg({"create", "-q", "-f", "qcow2", "-b", files_ / "base.qcow2", "-F", "qcow2",
           files_ / "overlay.qcow2"});
  const std::string qcow2 = testing::ReadFile(files_ / "base.qcow2");
  {  // the client went away midway
    auto upload = library_->BeginUpload({"gone"}, qcow2.size());
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE((*upload)->Write(qcow2.data(), 100).ok());
    EXPECT_EQ(ImagesDirEntries().size(), 1u);  // the staged file
  }
  EXPECT_TRUE(ImagesDirEntries().empty());
  auto shorter = library_->BeginUpload({"gone"}, qcow2.size() + 1);  // the name is free again
  ASSERT_TRUE(shorter.ok());
  ASSERT_TRUE((*shorter)->Write(qcow2.data(), qcow2.size()).ok());
  EXPECT_EQ((*shorter)->Write("xx", 2).code(), codes::kInvalidArgument);
  std::optional<Result<ImageRecord>> cut;
  (*shorter)->Finish(42, [&](Result<ImageRecord> r) { cut = std::move(r); });
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(cut->status().field(), "body");
  shorter->reset();
  EXPECT_TRUE(ImagesDirEntries().empty());

  for (const auto& [body, part] : std::vector<std::pair<std::string, std::string>>{
           {"this is not a disk\n", "not a disk image"},
           {testing::ReadFile(files_ / "overlay.qcow2"), "backing file"}}) {
    Result<ImageRecord> r = Upload({"bad"}, body);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), codes::kInvalidArgument);
    EXPECT_EQ(r.status().field(), "body");
    EXPECT_NE(r.status().message().find(part), std::string::npos) << r.status().message();
    EXPECT_TRUE(ImagesDirEntries().empty());
    EXPECT_FALSE(store_->GetImage("bad").has_value());
  }
}

}  // namespace
}  // namespace kumo::core
