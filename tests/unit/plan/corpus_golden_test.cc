// Renders every corpus manifest and compares the argv with
// tests/data/golden/<manifest>.argv. QDIRECT_UPDATE_GOLDEN=1 rewrites them.

#include <cstdlib>
#include <fstream>

#include "corpus.h"
#include "gtest/gtest.h"

namespace qdirect {
namespace {

using ::qdirect::testing::CorpusDir;
using ::qdirect::testing::CorpusHost;
using ::qdirect::testing::CorpusManifests;
using ::qdirect::testing::GoldenDir;
using ::qdirect::testing::ReadText;
using ::qdirect::testing::RenderGolden;

std::string RenderManifest(const std::string& manifest) {
  absl::StatusOr<spec::Vmi> vmi =
      spec::LoadVmi(ReadText(CorpusDir() + "/" + manifest));
  if (!vmi.ok()) return absl::StrCat("error: ", vmi.status().ToString(), "\n");
  absl::StatusOr<HostFacts> host =
      CorpusHost(*vmi, BuiltinQemu72Capabilities(), "",
                 "/run/qdirect/" + vmi->metadata.name);
  if (!host.ok()) return absl::StrCat("error: ", host.status().ToString(), "\n");
  return RenderGolden(MakePlan(*vmi, *host));
}

TEST(CorpusGoldenTest, CorpusHasAtLeast25Manifests) {
  EXPECT_GE(CorpusManifests().size(), 25u);
}

TEST(CorpusGoldenTest, EveryManifestMatchesItsGoldenArgv) {
  const char* update = std::getenv("QDIRECT_UPDATE_GOLDEN");
  const bool rewrite = update != nullptr && std::string(update) == "1";
  for (const std::string& manifest : CorpusManifests()) {
    SCOPED_TRACE(manifest);
    std::string golden_path =
        GoldenDir() + "/" + manifest.substr(0, manifest.size() - 5) + ".argv";
    std::string rendered = RenderManifest(manifest);
    if (rewrite) {
      std::ofstream(golden_path, std::ios::trunc) << rendered;
      continue;
    }
    std::string golden = ReadText(golden_path);
    ASSERT_FALSE(golden.empty())
        << golden_path << " is missing: run with QDIRECT_UPDATE_GOLDEN=1";
    EXPECT_EQ(rendered, golden)
        << "rerun with QDIRECT_UPDATE_GOLDEN=1 and review the diff";
  }
}

TEST(CorpusGoldenTest, RenderingIsDeterministic) {
  for (const std::string& manifest : CorpusManifests()) {
    EXPECT_EQ(RenderManifest(manifest), RenderManifest(manifest)) << manifest;
  }
}

}  // namespace
}  // namespace qdirect
