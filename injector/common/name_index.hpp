// Finds an element of a vector by its `name` member in constant time once the vector is large (a
// plan or a lab of 32,000 hosts looked up once per host would be quadratic). The index is rebuilt
// when the vector is another buffer or size than the one indexed, or when a hit no longer carries
// the name (rewritten in place). A copy starts empty; lookups from several threads are safe.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace inj {

template <class T>
class NameIndex {
public:
    NameIndex() = default;
    NameIndex(const NameIndex&) {}
    NameIndex& operator=(const NameIndex&) { return *this; }

    const T* find(const std::vector<T>& all, const std::string& name) const {
        if (all.size() < kLinear) {
            for (auto& e : all)
                if (e.name == name) return &e;
            return nullptr;
        }
        std::lock_guard lk(mu_);
        if (data_ != all.data() || size_ != all.size()) rebuild(all);
        auto it = by_name_.find(name);
        if (it != by_name_.end() && it->second->name == name) return it->second;
        rebuild(all);
        it = by_name_.find(name);
        return it == by_name_.end() ? nullptr : it->second;
    }

private:
    static constexpr size_t kLinear = 64;  // below this a scan is as fast and needs no lock
    void rebuild(const std::vector<T>& all) const {
        by_name_.clear();
        for (auto& e : all) by_name_.emplace(e.name, &e);  // the first of a repeated name, as a scan finds
        data_ = all.data();
        size_ = all.size();
    }
    mutable std::mutex mu_;
    mutable const T* data_ = nullptr;
    mutable size_t size_ = 0;
    mutable std::unordered_map<std::string, const T*> by_name_;
};

}  // namespace inj
