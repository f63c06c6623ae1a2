#include <gtest/gtest.h>
#include "reservoir/pool.hpp"
TEST(Smoke, Builds) { SUCCEED(); }
