#pragma once

// What the e2e tests that boot the test guest (tests/guest/) through
// vm::Machine share: where the guest lives, its VMI (examples/testvm.yaml),
// a VM name per test, and a private runtime root set in the environment.
// Needs QDIRECT_SOURCE_ROOT defined by meson.

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "qdirect/spec.h"

namespace qdirect::testing {

// The image store holding qdirect_test-guest ($QDIRECT_IMAGE_DIR).
inline std::string ImageDir() {
  const char* dir = getenv("QDIRECT_IMAGE_DIR");
  return dir != nullptr && *dir != '\0' ? dir : "/var/lib/qdirect/images";
}

// Whether tests/guest/build.sh has put the guest into ImageDir().
inline bool HasTestGuest() {
  return std::filesystem::exists(ImageDir() + "/qdirect_test-guest/boot/vmlinuz");
}

// examples/testvm.yaml, decoded.
inline absl::StatusOr<spec::Vmi> LoadTestVmi() {
  std::ifstream in(std::string(QDIRECT_SOURCE_ROOT) + "/examples/testvm.yaml");
  std::stringstream text;
  text << in.rdbuf();
  return spec::LoadVmi(text.str());
}

// A DNS-label VM name from the running test's name, so that a failure in
// one test cannot block the next: prefix + lower-cased name, at most
// max_length characters (socket paths are short).
inline std::string VmNameForCurrentTest(const std::string& prefix, size_t max_length) {
  std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::transform(name.begin(), name.end(), name.begin(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '-';
  });
  return (prefix + name).substr(0, max_length);
}

// A temp dir for one test suite, with the runtime root <dir>/run in
// QDIRECT_RUNTIME_DIR, TCG forced and the image store pinned. The dir is
// opened to traversal: QEMU runs as an unprivileged user and must reach
// its VM dir. Removed with everything in it when destroyed.
class TestRoot {
 public:
  explicit TestRoot(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr || chmod(tmpl.c_str(), 0755) != 0) {
      ADD_FAILURE() << "cannot make " << tmpl;
    }
    path_ = tmpl;
    setenv("QDIRECT_RUNTIME_DIR", (path_ + "/run").c_str(), 1);
    setenv("QDIRECT_ACCEL", "tcg", 1);
    setenv("QDIRECT_IMAGE_DIR", ImageDir().c_str(), 1);
  }
  ~TestRoot() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TestRoot(const TestRoot&) = delete;
  TestRoot& operator=(const TestRoot&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace qdirect::testing
