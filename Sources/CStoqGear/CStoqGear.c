/* Header-only: see include/CStoqGear.h. SwiftPM builds a C target from at least one source file. */
#include "CStoqGear.h"
