#include "textflag.h"

// func at(addr uintptr)
TEXT ·at(SB), NOSPLIT, $0-8
	MOVQ addr+0(FP), AX
	PREFETCHT0 (AX)
	RET
