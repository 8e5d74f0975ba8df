// PrefixSet, the index behind the loader's overlap checks and address assignment: its answers
// must be exactly those of a pairwise scan with Cidr::overlaps / Cidr::contains.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "plan/prefix_set.hpp"

using namespace inj;

TEST(PlanPrefixSet, AgreesWithAPairwiseScan) {
    std::mt19937 rng(7);
    std::vector<Cidr> all;
    plan::PrefixSet set;
    const Cidr base4 = *Cidr::parse("198.18.0.0/20");
    const Cidr base6 = *Cidr::parse("2001:2::/120");
    for (size_t i = 0; i < 600; ++i) {
        bool v6 = rng() % 4 == 0;
        const Cidr& b = v6 ? base6 : base4;
        int host_bits = v6 ? 8 : 12;
        IpAddr a = b.nth(rng() % (1u << host_bits));
        int len = b.prefix + static_cast<int>(rng() % (host_bits + 1));
        Cidr c = Cidr{a, len}.network();
        all.push_back(c);
        set.insert(c, i);
    }
    for (size_t q = 0; q < 300; ++q) {
        const Cidr& c = all[rng() % all.size()];
        Cidr probe = Cidr{c.addr, std::min(c.addr.bits(), c.prefix + static_cast<int>(rng() % 3))}.network();
        std::vector<size_t> want;
        for (size_t i = 0; i < all.size(); ++i)
            if (all[i].overlaps(probe)) want.push_back(i);
        auto got = set.overlapping(probe);
        std::sort(got.begin(), got.end());
        EXPECT_EQ(got, want) << probe.str();
        IpAddr a = probe.nth(rng() % 4);
        bool any = std::any_of(all.begin(), all.end(), [&](const Cidr& x) { return x.contains(a); });
        EXPECT_EQ(set.contains(a), any) << a.str();
    }
    EXPECT_FALSE(set.contains(*IpAddr::parse("198.19.0.1")));
    EXPECT_TRUE(set.overlapping(*Cidr::parse("10.0.0.0/8")).empty());
}
