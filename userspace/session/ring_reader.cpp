// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "session/ring_reader.h"

namespace hypertrace {

RingReader::RingReader(const RingMapping& ring)
    : data_(ring.data),
      mask_(ring.size - 1),
      size_(ring.size),
      consumer_pos_(ring.consumer_pos),
      producer_pos_(ring.producer_pos),
      cons_(__atomic_load_n(ring.consumer_pos, __ATOMIC_ACQUIRE))
{
}

bool RingReader::caught_up() const { return cons_ == __atomic_load_n(producer_pos_, __ATOMIC_ACQUIRE); }

}  // namespace hypertrace
