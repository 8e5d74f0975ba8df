// A set of numbered prefixes that answers "which of them overlap this one" without a scan, so
// the loader's overlap checks and address assignment stay near-linear in the number of hosts
// (a scan per host made a 2,000-host plan take half a minute to load).
#pragma once

#include <cstddef>
#include <set>
#include <tuple>
#include <vector>

#include "common/netaddr.hpp"

namespace inj::plan {

class PrefixSet {
public:
    // Adds prefix `c` (its network is what counts) under number `id`.
    void insert(const Cidr& c, size_t id);
    // The ids of every added prefix that overlaps `c` (contains it or lies inside it), in no
    // particular order. Cost: one probe per prefix length in use, plus one step per prefix inside c.
    std::vector<size_t> overlapping(const Cidr& c) const;
    // Whether some added prefix contains address `a`.
    bool contains(const IpAddr& a) const;

private:
    // (family, network address, prefix length, id): prefixes inside a given one are contiguous.
    using Key = std::tuple<bool, IpAddr, int, size_t>;
    std::set<Key> keys_;
    std::set<int> lengths_v4_, lengths_v6_;
};

}  // namespace inj::plan
