#!/usr/bin/env python3
"""embed_spirv.py IN.spv OUT.c SYMBOL: a SPIR-V module as a C array of words
(const uint32_t SYMBOL[], size_t SYMBOL_size in bytes), for tests and the
bench that hand user SPIR-V to aidev_kernel_create."""
import sys


def main():
    src, out, sym = sys.argv[1:4]
    data = open(src, "rb").read()
    if len(data) % 4 or data[:4] != b"\x03\x02\x23\x07":
        print(f"error: {src} is not a little-endian SPIR-V module", file=sys.stderr)
        return 1
    words = [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"/* Generated from {src.split('/')[-1]} by embed_spirv.py. Do not edit. */\n")
        f.write("#include <stddef.h>\n#include <stdint.h>\n\n")
        f.write(f"extern const uint32_t {sym}[];\nextern const size_t {sym}_size;\n")
        f.write(f"const uint32_t {sym}[] = {{\n")
        for i in range(0, len(words), 8):
            f.write("    " + ", ".join(f"0x{w:08x}u" for w in words[i:i + 8]) + ",\n")
        f.write("};\n")
        f.write(f"const size_t {sym}_size = sizeof {sym};\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
