// PrefixSet (see prefix_set.hpp). Two prefixes overlap exactly when one contains the other, so
// the prefixes overlapping c are those containing it (one exact probe per length in use, at
// c's address cut to that length) and those inside it (a contiguous run from c's network).
#include "plan/prefix_set.hpp"

namespace inj::plan {

void PrefixSet::insert(const Cidr& c, size_t id) {
    Cidr n = c.network();
    keys_.emplace(n.addr.v6, n.addr, n.prefix, id);
    (n.addr.v6 ? lengths_v6_ : lengths_v4_).insert(n.prefix);
}

std::vector<size_t> PrefixSet::overlapping(const Cidr& c) const {
    std::vector<size_t> out;
    Cidr n = c.network();
    bool v6 = n.addr.v6;
    for (int len : v6 ? lengths_v6_ : lengths_v4_) {
        if (len > n.prefix) break;
        Cidr outer = Cidr{n.addr, len}.network();
        for (auto it = keys_.lower_bound(Key{v6, outer.addr, len, 0});
             it != keys_.end() && std::get<1>(*it) == outer.addr && std::get<2>(*it) == len && std::get<0>(*it) == v6;
             ++it)
            out.push_back(std::get<3>(*it));
    }
    // Strictly longer prefixes inside n: from n's own network address, while still inside.
    for (auto it = keys_.lower_bound(Key{v6, n.addr, n.prefix + 1, 0});
         it != keys_.end() && std::get<0>(*it) == v6 && n.contains(std::get<1>(*it)); ++it)
        if (std::get<2>(*it) > n.prefix) out.push_back(std::get<3>(*it));
    return out;
}

bool PrefixSet::contains(const IpAddr& a) const {
    bool v6 = a.v6;
    for (int len : v6 ? lengths_v6_ : lengths_v4_) {
        Cidr outer = Cidr{a, len}.network();
        auto it = keys_.lower_bound(Key{v6, outer.addr, len, 0});
        if (it != keys_.end() && std::get<0>(*it) == v6 && std::get<1>(*it) == outer.addr && std::get<2>(*it) == len)
            return true;
    }
    return false;
}

}  // namespace inj::plan
