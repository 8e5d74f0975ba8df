// A volume's loss model (`loss:` under a volatile volume): read by a function of its own so that
// the lab's service volumes and host-level volumes read it alike, and described once for the
// JSON Schema.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

#include "plan/reader.hpp"

namespace inj::plan::load {

// Reads `loss: { model, torn_sectors, survive, metadata, writeback, seed }`. Problems are
// reported through `r` (file:line:col, the field) and give nullopt. `is_volatile` is whether the
// volume holding it is volatile: a loss model of a volume that loses nothing is refused.
std::optional<VolumeLoss> load_volume_loss(Reader& r, const Field& f, bool is_volatile);

// The JSON Schema of the `loss` map.
nlohmann::json volume_loss_schema();

}  // namespace inj::plan::load
