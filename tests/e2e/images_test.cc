// End to end: images through the API and the CLI of a real kumod, checked by
// real qemu-img. An import copies the file into STATE_DIR/images/NAME; a
// file that is not an image, or a qcow2 whose backing file points elsewhere,
// is refused and leaves nothing there; a disk smaller than its image is
// refused naming both sizes; an image in use is not deleted. An upload
// (PUT /v1/images/NAME/disk, kumo images upload) is refused from its header
// before its body (401, 413, 409), and one cut short or not an image leaves
// nothing; an uploaded disk boots.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <thread>

#include "e2e/kumod_harness.h"
#include "support/child_process.h"

namespace kumo::testing {
namespace {

using namespace std::chrono_literals;

// ChildProcess runs a path, not a name looked up in PATH.
constexpr char kQemuImg[] = "/usr/bin/qemu-img";

class Images : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(kumod_.Start(&err)) << err;
    // A copy of the guest image's disk: the file an operator would bring.
    std::filesystem::copy_file(std::string(KUMO_GUEST_IMAGE_DIR) + "/rootfs.qcow2",
                               files_ / "guest.qcow2");
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- kumod log ---\n" << kumod_.log() << "\n";
  }

  void QemuImg(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kQemuImg};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess p;
    std::string err;
    ASSERT_TRUE(p.Start(argv, files_ / "qemu-img.log", &err)) << err;
    int status = p.WaitExit(60s);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(files_ / "qemu-img.log");
  }

  // What STATE_DIR/images holds.
  std::vector<std::string> StoredImages() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(kumod_.state_dir() + "/images", ec)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  json Image(const std::string& name) {
    json images = kumod_.Call("GET", "/v1/images").json()["images"];
    for (const auto& i : images) {
      if (i["name"] == name) return i;
    }
    return nullptr;
  }

  // Sends PUT `target` announcing `length` bytes, then `body` (all of it, or
  // less), and reads the answer unless `hang_up` (then it closes at once).
  HttpResult RawPut(const std::string& target, const std::string& token, uint64_t length,
                    const std::string& body, bool hang_up = false) {
    namespace asio = boost::asio;
    namespace http = boost::beast::http;
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect(
        {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(kumod_.port())});
    std::string head =
        "PUT " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
        "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + std::to_string(length) +
        "\r\n\r\n";
    asio::write(socket, asio::buffer(head));
    HttpResult result;
    boost::system::error_code ec;
    if (!body.empty()) asio::write(socket, asio::buffer(body), ec);
    if (hang_up) return result;
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res, ec);
    if (ec) return result;
    result.status = static_cast<int>(res.result_int());
    result.body = res.body();
    return result;
  }

  // Waits until STATE_DIR/images holds `names` (an abandoned upload is
  // cleaned up once kumod sees the connection gone).
  bool WaitStoredImages(const std::vector<std::string>& names) {
    for (int i = 0; i < 400 && StoredImages() != names; ++i) std::this_thread::sleep_for(50ms);
    return StoredImages() == names;
  }

  TempDir files_;
  KumodHarness kumod_;
};

TEST_F(Images, AnUploadIsRefusedFromItsHeaderAndOneCutShortOrNotAnImageLeavesNothing) {
  const std::string qcow2 = ReadFile(files_ / "guest.qcow2");
  const std::string target = "/v1/images/up/disk?os=kumo&agent_kind=qemu-ga";
  // Refused before the body: not a byte of the announced GiB is sent.
  HttpResult wrong = RawPut(target, "wrong-token", uint64_t{1} << 30, "");
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  HttpResult huge = RawPut(target, kumod_.token(), uint64_t{65} << 30, "");
  EXPECT_EQ(huge.status, 413) << huge.body;
  EXPECT_NE(huge.body.find("--image-upload-max-gib"), std::string::npos) << huge.body;
  HttpResult bad_meta = RawPut("/v1/images/up/disk?firmware=coreboot", kumod_.token(), 1024, "");
  EXPECT_EQ(bad_meta.status, 400) << bad_meta.body;
  EXPECT_EQ(bad_meta.json()["error"]["field"], "firmware");
  EXPECT_EQ(StoredImages(), std::vector<std::string>{});

  // Cut short: the client hangs up midway; nothing stays, the name is free.
  RawPut(target, kumod_.token(), qcow2.size(), qcow2.substr(0, qcow2.size() / 2), true);
  EXPECT_TRUE(WaitStoredImages({}));
  // Not an image; a qcow2 whose backing file is elsewhere: refused after
  // the check, nothing left.
  const std::string text = "this is not a disk image\n";
  HttpResult not_image = RawPut(target, kumod_.token(), text.size(), text);
  EXPECT_EQ(not_image.status, 400) << not_image.body;
  EXPECT_EQ(not_image.json()["error"]["field"], "body");
  EXPECT_NE(not_image.body.find("not a disk image"), std::string::npos) << not_image.body;
  QemuImg({"create", "-q", "-f", "qcow2", "-b", files_ / "guest.qcow2", "-F", "qcow2",
           files_ / "overlay.qcow2"});
  const std::string overlay = ReadFile(files_ / "overlay.qcow2");
  HttpResult backed = RawPut(target, kumod_.token(), overlay.size(), overlay);
  EXPECT_EQ(backed.status, 400) << backed.body;
  EXPECT_NE(backed.body.find("backing file"), std::string::npos) << backed.body;
  EXPECT_TRUE(WaitStoredImages({}));
  EXPECT_TRUE(Image("up").is_null());

  // While an upload stalls, kumod answers other requests.
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::socket stalled(io);
  stalled.connect(
      {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(kumod_.port())});
  asio::write(stalled, asio::buffer("PUT /v1/images/slow/disk HTTP/1.1\r\nHost: x\r\n"
                                    "Authorization: Bearer " +
                                    kumod_.token() +
                                    "\r\nContent-Type: application/octet-stream\r\n"
                                    "Content-Length: 100000000\r\n\r\n" +
                                    std::string(65536, 'x')));
  EXPECT_EQ(kumod_.Call("GET", "/v1/images").status, 200);
  // Its name is taken meanwhile.
  HttpResult taken = RawPut("/v1/images/slow/disk", kumod_.token(), 1024, "");
  EXPECT_EQ(taken.status, 409) << taken.body;
  stalled.close();

  // The whole qcow2 over raw HTTP: registered as sent.
  HttpResult uploaded = RawPut(target, kumod_.token(), qcow2.size(), qcow2);
  ASSERT_EQ(uploaded.status, 201) << uploaded.body;
  EXPECT_EQ(uploaded.json()["format"], "qcow2");
  EXPECT_EQ(uploaded.json()["agent_kind"], "qemu-ga");
  EXPECT_EQ(uploaded.json()["os"], "kumo");
  EXPECT_EQ(ReadFile(kumod_.state_dir() + "/images/up/disk.qcow2"), qcow2);
  EXPECT_TRUE(WaitStoredImages({"up"}));
  HttpResult again = RawPut(target, kumod_.token(), 1024, "");
  EXPECT_EQ(again.status, 409) << again.body;
}

TEST_F(Images, ImportThroughTheApiAndTheCliRefuseBadFilesAndDeleteWhenUnused) {
  // Through the API.
  HttpResult imported = kumod_.Call(
      "POST", "/v1/images", {{"name", "mine"}, {"path", files_ / "guest.qcow2"}, {"os", "kumo"}});
  ASSERT_EQ(imported.status, 201) << imported.body;
  EXPECT_EQ(imported.json()["virtual_size_bytes"], int64_t{1} << 30);
  EXPECT_EQ(imported.json()["format"], "qcow2");
  EXPECT_TRUE(std::filesystem::exists(kumod_.state_dir() + "/images/mine/disk.qcow2"));
  // The kumod-registered image shows the defaults and its size.
  EXPECT_EQ(Image("kumo-guest")["agent_kind"], "kumo-agent");
  EXPECT_EQ(Image("kumo-guest")["virtual_size_bytes"], int64_t{1} << 30);

  // Through the CLI.
  std::string out;
  ASSERT_EQ(kumod_.RunCli({"images", "import", "theirs", files_ / "guest.qcow2", "--agent-kind",
                           "qemu-ga", "--login-user", "debian", "--os", "Debian 12"},
                          &out),
            0)
      << out;
  EXPECT_NE(out.find("image theirs imported"), std::string::npos) << out;
  EXPECT_EQ(Image("theirs")["agent_kind"], "qemu-ga");
  EXPECT_EQ(Image("theirs")["login_user"], "debian");
  ASSERT_EQ(kumod_.RunCli({"images"}, &out), 0) << out;
  EXPECT_NE(out.find("qemu-ga"), std::string::npos) << out;
  EXPECT_NE(out.find("1.0G"), std::string::npos) << out;

  // A disk smaller than the image: refused, both sizes named.
  QemuImg({"create", "-q", "-f", "qcow2", files_ / "big.qcow2", "2G"});
  ASSERT_EQ(
      kumod_.Call("POST", "/v1/images", {{"name", "big"}, {"path", files_ / "big.qcow2"}}).status,
      201);
  HttpResult small =
      kumod_.Call("POST", "/v1/servers", {{"name", "tiny"}, {"image", "big"}, {"disk_gib", 1}});
  EXPECT_EQ(small.status, 400) << small.body;
  EXPECT_EQ(small.json()["error"]["field"], "disk_gib");
  EXPECT_EQ(small.json()["error"]["message"],
            "disk_gib 1 is smaller than the image big (2.0 GiB); give at least 2");
  EXPECT_TRUE(kumod_.Server("tiny").is_null());
  ASSERT_EQ(kumod_.RunCli({"create", "tiny", "--image", "big", "--disk", "1"}, &out), 1) << out;
  EXPECT_NE(out.find("give at least 2"), std::string::npos) << out;

  // Bad files: refused, nothing left behind.
  const std::vector<std::string> before = StoredImages();
  EXPECT_EQ(before, (std::vector<std::string>{"big", "mine", "theirs"}));
  WriteFile(files_ / "notes.txt", "this is not a disk image\n");
  HttpResult text =
      kumod_.Call("POST", "/v1/images", {{"name", "notes"}, {"path", files_ / "notes.txt"}});
  EXPECT_EQ(text.status, 400) << text.body;
  EXPECT_EQ(text.json()["error"]["field"], "path");
  EXPECT_NE(text.body.find("not a disk image"), std::string::npos) << text.body;
  EXPECT_EQ(StoredImages(), before);

  QemuImg({"create", "-q", "-f", "qcow2", "-b", files_ / "guest.qcow2", "-F", "qcow2",
           files_ / "overlay.qcow2"});
  HttpResult backed =
      kumod_.Call("POST", "/v1/images", {{"name", "backed"}, {"path", files_ / "overlay.qcow2"}});
  EXPECT_EQ(backed.status, 400) << backed.body;
  EXPECT_NE(backed.body.find("backing file"), std::string::npos) << backed.body;
  EXPECT_EQ(StoredImages(), before);
  ASSERT_NE(kumod_.RunCli({"images", "import", "backed", files_ / "overlay.qcow2"}, &out), 0);
  EXPECT_NE(out.find("backing file"), std::string::npos) << out;
  EXPECT_EQ(StoredImages(), before);
  EXPECT_TRUE(Image("notes").is_null());
  EXPECT_TRUE(Image("backed").is_null());

  // A server from the imported image: the disk defaults to the image's size,
  // and its overlay is made on the imported copy.
  HttpResult web = kumod_.Call("POST", "/v1/servers", {{"name", "web"}, {"image", "mine"}});
  ASSERT_EQ(web.status, 201) << web.body;
  EXPECT_EQ(web.json()["disk_gib"], 1);
  const std::string overlay = kumod_.state_dir() + "/servers/web/disk.qcow2";
  for (int i = 0; i < 600 && !std::filesystem::exists(overlay); ++i)
    std::this_thread::sleep_for(50ms);
  ChildProcess info;
  std::string err;
  ASSERT_TRUE(
      info.Start({kQemuImg, "info", "-U", "--output=json", overlay}, files_ / "info.json", &err))
      << err;
  int info_status = info.WaitExit(60s);
  json overlay_info = json::parse(ReadFile(files_ / "info.json"), nullptr, false);
  ASSERT_TRUE(overlay_info.is_object()) << info_status << ": " << ReadFile(files_ / "info.json");
  EXPECT_EQ(overlay_info.value("backing-filename", ""),
            kumod_.state_dir() + "/images/mine/disk.qcow2")
      << ReadFile(files_ / "info.json");
  EXPECT_EQ(overlay_info.value("virtual-size", int64_t{0}), int64_t{1} << 30);

  // In use: not deleted, the server named.
  HttpResult used = kumod_.Call("DELETE", "/v1/images/mine");
  EXPECT_EQ(used.status, 409) << used.body;
  EXPECT_NE(used.body.find("used by 1 server: web"), std::string::npos) << used.body;
  EXPECT_TRUE(std::filesystem::exists(kumod_.state_dir() + "/images/mine/disk.qcow2"));

  ASSERT_EQ(kumod_.Call("DELETE", "/v1/servers/web?force=true").status, 202);
  for (int i = 0; i < 600 && !kumod_.Server("web").is_null(); ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(kumod_.Server("web").is_null());
  HttpResult deleted = kumod_.Call("DELETE", "/v1/images/mine");
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_FALSE(std::filesystem::exists(kumod_.state_dir() + "/images/mine"));
  ASSERT_EQ(kumod_.RunCli({"images", "delete", "theirs"}, &out), 0) << out;
  EXPECT_EQ(StoredImages(), std::vector<std::string>{"big"});
  EXPECT_TRUE(Image("mine").is_null());
}

// What a user who brings a bootable disk sees: uploaded through the CLI
// (streamed from the file), it boots with its own bootloader to running; the create answer carries
// what the image will not do with the user data (and an image whose cloud-init applies all of it
// gets no warning); show names the login user and the SSH command.
TEST_F(Images, AnImportedDiskBootsAndSaysHowToLogInAndWhatItWillNotApply) {
  std::string out;
  const std::string disk = std::string(KUMO_GUEST_DISK_IMAGE_DIR) + "/disk.qcow2";
  ASSERT_EQ(kumod_.RunCli({"images", "upload", "own", disk, "--os", "kumo on SYSLINUX"}, &out), 0)
      << out;
  EXPECT_NE(out.find("image own uploaded"), std::string::npos) << out;
  EXPECT_EQ(Image("own")["os"], "kumo on SYSLINUX");
  EXPECT_EQ(ReadFile(kumod_.state_dir() + "/images/own/disk.qcow2"), ReadFile(disk));
  EXPECT_EQ(Image("own")["user_data_support"], "kumo");
  ASSERT_EQ(kumod_.RunCli({"images", "import", "stock", disk, "--agent-kind", "qemu-ga",
                           "--login-user", "debian"},
                          &out),
            0)
      << out;
  EXPECT_EQ(Image("stock")["user_data_support"], "cloud-init");

  const std::string user_data = "#cloud-config\npackages: [nginx]\n";
  HttpResult created = kumod_.Call("POST", "/v1/servers",
                                   {{"name", "own"}, {"image", "own"}, {"user_data", user_data}});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.json()["warnings"],
            json::array({"user data: packages: not applied by the kumo image (a cloud-init image "
                         "may apply it)"}))
      << created.body;
  // cloud-init applies packages: nothing to warn about. (Not booted: the
  // disk is the same kumo guest; only the answer matters here.)
  HttpResult quiet = kumod_.Call("POST", "/v1/servers",
                                 {{"name", "quiet"}, {"image", "stock"}, {"user_data", user_data}});
  ASSERT_EQ(quiet.status, 201) << quiet.body;
  EXPECT_EQ(quiet.json()["warnings"], json::array()) << quiet.body;
  EXPECT_EQ(kumod_.Call("DELETE", "/v1/servers/quiet?force=true").status, 202);

  json s = kumod_.WaitStatus("own", "running", 240);
  ASSERT_EQ(s["status"], "running") << s.dump() << "\n" << kumod_.Events("own").dump();
  json shown = kumod_.Server("own");
  EXPECT_EQ(shown["login_user"], "root");
  ASSERT_TRUE(shown["ssh_port"].is_number_integer()) << shown.dump();
  EXPECT_EQ(shown["ssh_command"],
            "ssh -p " + std::to_string(shown["ssh_port"].get<int>()) + " root@127.0.0.1");
  ASSERT_EQ(kumod_.RunCli({"show", "own"}, &out), 0) << out;
  EXPECT_NE(out.find("ssh -p "), std::string::npos) << out;
  // The agent of the imported disk answers: exec works.
  HttpResult exec = kumod_.Exec("own", {"/bin/hostname"});
  EXPECT_EQ(exec.status, 200) << exec.body;
  EXPECT_EQ(exec.json().value("stdout", ""), "own\n") << exec.body;
}

}  // namespace
}  // namespace kumo::testing
