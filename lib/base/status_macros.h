#pragma once

// RETURN_IF_ERROR / ASSIGN_OR_RETURN: Debian's abseil (20220623) predates
// abseil's own status macros, so we carry these.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define QDIRECT_STATUS_CONCAT_INNER_(x, y) x##y
#define QDIRECT_STATUS_CONCAT_(x, y) QDIRECT_STATUS_CONCAT_INNER_(x, y)

// Evaluates expr (an absl::Status); returns it from the enclosing function
// when it is not OK.
#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    ::absl::Status qdirect_status_ = (expr);       \
    if (!qdirect_status_.ok()) return qdirect_status_; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates expr (an absl::StatusOr<T>); on
// error returns its status, else moves the value into lhs (which may be a
// declaration such as `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  QDIRECT_ASSIGN_OR_RETURN_IMPL_(   \
      QDIRECT_STATUS_CONCAT_(qdirect_statusor_, __LINE__), lhs, expr)

#define QDIRECT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()
