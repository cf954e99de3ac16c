#include "qdirect/plan.h"

namespace qdirect {

bool QemuCapabilities::HasDeviceProperty(std::string_view type,
                                         std::string_view property) const {
  auto it = device_properties.find(type);
  return it != device_properties.end() && it->second.find(property) != it->second.end();
}

}  // namespace qdirect
