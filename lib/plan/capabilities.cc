#include "qdirect/plan.h"

namespace qdirect {

CapabilityNames::CapabilityNames(std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) insert(std::string(name));
}

CapabilityNames::CapabilityNames(const CapabilityNames& other) : names_(other.names_) {
  Reindex();
}

CapabilityNames& CapabilityNames::operator=(const CapabilityNames& other) {
  if (this != &other) {
    names_ = other.names_;
    Reindex();
  }
  return *this;
}

void CapabilityNames::Reindex() {
  index_.clear();
  index_.reserve(names_.size());
  for (const std::string& name : names_) index_.insert(&name);
}

const std::string* CapabilityNames::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : *it;
}

bool CapabilityNames::insert(std::string name) {
  auto [it, inserted] = names_.insert(std::move(name));
  if (inserted) index_.insert(&*it);
  return inserted;
}

size_t CapabilityNames::erase(std::string_view name) {
  auto it = names_.find(name);
  if (it == names_.end()) return 0;
  index_.erase(&*it);
  names_.erase(it);
  return 1;
}

CapabilityProperties::CapabilityProperties(const CapabilityProperties& other)
    : map_(other.map_) {
  Reindex();
}

CapabilityProperties& CapabilityProperties::operator=(const CapabilityProperties& other) {
  if (this != &other) {
    map_ = other.map_;
    Reindex();
  }
  return *this;
}

void CapabilityProperties::Reindex() {
  index_.clear();
  index_.reserve(map_.size());
  for (value_type& entry : map_) index_.emplace(entry.first, &entry);
}

CapabilityNames& CapabilityProperties::operator[](std::string_view type) {
  auto found = index_.find(type);
  if (found != index_.end()) return found->second->second;
  auto it = map_.emplace(std::string(type), CapabilityNames()).first;
  index_.emplace(it->first, &*it);
  return it->second;
}

const CapabilityProperties::value_type* CapabilityProperties::Find(std::string_view type) const {
  auto it = index_.find(type);
  return it == index_.end() ? nullptr : it->second;
}

bool QemuCapabilities::HasDeviceProperty(std::string_view type,
                                         std::string_view property) const {
  const auto* entry = device_properties.Find(type);
  return entry != nullptr && entry->second.contains(property);
}

}  // namespace qdirect
