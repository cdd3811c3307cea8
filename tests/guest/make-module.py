#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the multiboot test module: a 15-byte header and a byte pattern, 5000 bytes."""
import sys

data = bytearray(b"SOFTKVM-MODULE\n") + bytes((k * 13 + 7) & 0xff for k in range(15, 5000))
with open(sys.argv[1], "wb") as f:
    f.write(data)
