// The loss model of a volatile volume, as the plan states it (volume.hpp). The keys map one to
// one onto the fault filesystem's loss settings (faultfs::Loss); a key that only one model reads
// is refused under another, so a plan never carries a setting that does nothing.
#include "plan/load/volume.hpp"

#include <limits>

namespace inj::plan::load {
namespace {

// torn_sectors past this would tear nothing a real request could carry (512 KiB per write).
constexpr long long kMaxTornSectors = 1024;

}  // namespace

std::optional<VolumeLoss> load_volume_loss(Reader& r, const Field& f, bool is_volatile) {
    MapView m(r, f);
    if (!m.ok()) return std::nullopt;
    m.allow({"model", "torn_sectors", "survive", "metadata", "writeback", "seed"});
    const size_t before = r.error_count();
    VolumeLoss loss;
    loss.mark = f.mark;
    if (!is_volatile)
        r.error(f.key_mark, f.path,
                "a loss model needs a volatile volume (add volatile: true): a volume that is "
                "not volatile loses nothing at a power cut");
    if (auto mf = m.get("model"))
        if (auto v = r.one_of(*mf, {"unsynced", "torn", "reorder"}, "loss model"))
            loss.model = *v == "torn"      ? VolumeLoss::Model::torn
                         : *v == "reorder" ? VolumeLoss::Model::reorder
                                           : VolumeLoss::Model::unsynced;
    // Keys of one model only.
    auto only = [&](const char* key, VolumeLoss::Model model) -> std::optional<Field> {
        auto kf = m.get(key);
        if (kf && loss.model != model)
            r.error(kf->key_mark, kf->path,
                    std::string(key) + " applies to model " + to_string(model) + " only (this volume's model is " +
                        to_string(loss.model) + ")");
        return kf && loss.model == model ? kf : std::nullopt;
    };
    if (auto tf = only("torn_sectors", VolumeLoss::Model::torn))
        if (auto n = r.integer(*tf)) {
            if (*n < 0 || *n > kMaxTornSectors)
                r.error(*tf, "torn_sectors " + std::to_string(*n) + " is outside 0.." +
                                 std::to_string(kMaxTornSectors) +
                                 " (512-byte sectors; 0 = a random subset of each write's pages)");
            else
                loss.torn_sectors = uint32_t(*n);
        }
    if (auto sf = only("survive", VolumeLoss::Model::reorder))
        if (auto p = r.probability(*sf)) loss.survive = *p;
    if (auto mf = m.get("metadata"))
        if (auto v = r.one_of(*mf, {"durable", "volatile"}, "metadata mode")) loss.metadata_volatile = *v == "volatile";
    if (auto wf = m.get("writeback"))
        if (auto d = r.duration(*wf, false)) loss.writeback = *d;
    if (auto sf = m.get("seed"))
        if (auto n = r.integer(*sf)) {
            if (*n < 0)
                r.error(*sf, "seed must be 0 or more (0 = from the clock), got " + std::to_string(*n));
            else
                loss.seed = uint64_t(*n);
        }
    if (r.error_count() != before) return std::nullopt;
    return loss;
}

nlohmann::json volume_loss_schema() {
    using json = nlohmann::json;
    return {{"type", "object"},
            {"additionalProperties", false},
            {"description", "what a power cut loses of the writes not made durable (default: every unsynced write)"},
            {"properties",
             {{"model",
               {{"enum", {"unsynced", "torn", "reorder"}},
                {"description",
                 "unsynced: every unsynced write lost; torn: a prefix of each lands; reorder: any "
                 "subset lands"}}},
              {"torn_sectors",
               {{"type", "integer"},
                {"minimum", 0},
                {"maximum", kMaxTornSectors},
                {"description",
                 "torn: the longest prefix of a write that lands, in 512-byte sectors (default 8); "
                 "0: a random subset of its pages"}}},
              {"survive",
               {{"oneOf", json::array({{{"type", "number"}, {"minimum", 0}, {"maximum", 1}},
                                       {{"type", "string"}, {"pattern", "^[0-9.]+%?$"}}})},
                {"description", "reorder: the chance each unsynced write lands (default 0.5)"}}},
              {"metadata",
               {{"enum", {"durable", "volatile"}},
                {"description",
                 "volatile: creations, renames and unlinks not followed by an fsync of their "
                 "directory are lost too"}}},
              {"writeback",
               {{"type", "string"},
                {"pattern", "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$"},
                {"description",
                 "data dirty longer than this is written back as the kernel would (e.g. 30s); "
                 "default never"}}},
              {"seed",
               {{"type", "integer"},
                {"minimum", 0},
                {"description", "the random choices of torn and reorder (0: from the clock)"}}}}}};
}

}  // namespace inj::plan::load
