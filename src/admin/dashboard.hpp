// The /dashboard page: one self-contained HTML document (inline script and style, no fetch
// beyond this endpoint).
#pragma once

#include <string_view>

namespace reservoir::admin::detail {

std::string_view dashboard_html() noexcept;

}  // namespace reservoir::admin::detail
