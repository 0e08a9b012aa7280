#include "switchyard/common/clock.h"

namespace switchyard {

const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace switchyard
