#pragma once

// Decodes a VirtualMachineInstanceSpec object into a Vmi (fields only; the
// defaults that need no source knowledge are in defaults.h).

#include "qdirect/spec.h"
#include "spec/object_reader.h"

namespace qdirect::spec {

// Reads the VMI spec at reader.path() (e.g. "spec.template.spec") into vmi.
void DecodeVmiSpec(ObjectReader& reader, const DecodeLimits& limits, Vmi* vmi);

// Reads an ObjectMeta (name, namespace, labels, annotations, uid; the
// server-set fields are tolerated).
void DecodeObjectMeta(ObjectReader& reader, ObjectMeta* meta);

}  // namespace qdirect::spec
