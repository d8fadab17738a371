// Drops the ORDO_<FLAG> variables of the environment, then runs the suite.
#include "tests/support/test_main.hpp"
