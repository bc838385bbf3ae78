"""A Modbus TCP server on pymodbus (a third-party implementation) for the collector's tests.

Reads a JSON list of registers from argv[1]: {"unit", "table" (input|holding), "address",
"type" (int16|uint16|float32), "order" (ABCD|CDAB|BADC|DCBA), "value"}; encodes each value with
Python's struct (independently of the collector's decoder), listens on 127.0.0.1 port 0 and
prints {"port": N} once serving. Runs until stdin closes or it is terminated.
"""
import asyncio
import json
import struct
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server.async_io import ModbusTcpServer


def words(register):
    kind = register["type"]
    if kind == "int16":
        return list(struct.unpack(">H", struct.pack(">h", register["value"])))
    if kind == "uint16":
        return [register["value"]]
    big_endian = struct.pack(">f", register["value"])  # bytes A B C D
    wire = bytes(big_endian["ABCD".index(letter)] for letter in register.get("order", "ABCD"))
    return list(struct.unpack(">HH", wire))


def context_for(registers):
    units = {}
    for register in registers:
        tables = units.setdefault(register["unit"], {"input": [0] * 64, "holding": [0] * 64})
        for offset, word in enumerate(words(register)):
            tables[register["table"]][register["address"] + offset] = word
    slaves = {
        unit: ModbusSlaveContext(
            ir=ModbusSequentialDataBlock(0, tables["input"]),
            hr=ModbusSequentialDataBlock(0, tables["holding"]),
            zero_mode=True,
        )
        for unit, tables in units.items()
    }
    return ModbusServerContext(slaves=slaves, single=False)


async def main():
    registers = json.loads(sys.argv[1])
    server = ModbusTcpServer(context_for(registers), address=("127.0.0.1", 0))
    task = asyncio.ensure_future(server.serve_forever())
    await server.serving
    port = server.server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    loop = asyncio.get_event_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await server.shutdown()
    task.cancel()


asyncio.run(main())
