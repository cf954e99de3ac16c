#include "qdirect/plan.h"

namespace qdirect {

bool QemuCapabilities::HasDeviceProperty(const std::string& type,
                                         const std::string& property) const {
  auto it = device_properties.find(type);
  return it != device_properties.end() && it->second.count(property) != 0;
}

}  // namespace qdirect
