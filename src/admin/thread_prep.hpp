// Work done once on the thread that starts the admin server, before its own thread exists.
#pragma once

#include <locale>

#include "reservoir/admin/events.hpp"

namespace reservoir::admin::detail {

// libstdc++ fills std::ctype<char>'s narrow() cache lazily, one byte per character, from
// whichever thread asks first: std::regex (redact_secrets) compiled on the server thread then
// races (TSan: a data race in ctype::narrow) with any regex the application compiles on its
// own threads. Filling the whole cache and compiling the redaction patterns here makes every
// later use on any thread a read.
inline void prepare_shared_text_state() {
  const auto& ctype = std::use_facet<std::ctype<char>>(std::locale());
  for (int c = 0; c < 256; ++c) (void)ctype.narrow(static_cast<char>(c), '\0');
  (void)redact_secrets("");
}

}  // namespace reservoir::admin::detail
