#include "switchyard/common/priority.h"

namespace switchyard {

const char* to_string(PriorityClass c) {
  return c == PriorityClass::kInteractive ? "interactive" : "background";
}

}  // namespace switchyard
