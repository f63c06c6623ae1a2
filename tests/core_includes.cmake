# Fails when reservoir::core includes a header of a target built on top of it (resilience, sql,
# a backend). All public headers share include/reservoir/, so the compiler alone cannot tell;
# a core header or source that did so would only fail to link in some consumers.
# Run as: cmake -DSOURCE_DIR=<repo> -P core_includes.cmake
cmake_minimum_required(VERSION 3.25)
set(not_core breaker retry retry_budget run sql sql_retry)  # + every header under a backend folder
file(GLOB core_files ${SOURCE_DIR}/src/core/*.cpp ${SOURCE_DIR}/src/core/*.hpp ${SOURCE_DIR}/include/reservoir/*.hpp)
foreach(name IN LISTS not_core)
  list(REMOVE_ITEM core_files ${SOURCE_DIR}/include/reservoir/${name}.hpp)
endforeach()
set(violations "")
foreach(file IN LISTS core_files)
  file(STRINGS ${file} includes REGEX "^#include \"reservoir/")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^#include \"reservoir/([^\"]+)\\.hpp\".*" "\\1" header "${line}")
    if(header IN_LIST not_core OR header MATCHES "/")
      list(APPEND violations "${file}: ${line}")
    endif()
  endforeach()
endforeach()
if(violations)
  list(JOIN violations "\n  " text)
  message(FATAL_ERROR "reservoir::core includes headers of targets built on it:\n  ${text}")
endif()
list(LENGTH core_files count)
message(STATUS "core includes only core headers (${count} files checked)")
