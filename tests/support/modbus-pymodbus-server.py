"""A Modbus server on pymodbus (a third-party implementation) for the collector's tests.

Reads a JSON list of registers from argv[1]: {"unit", "table" (input|holding), "address",
"type" (int16|uint16|float32), "order" (ABCD|CDAB|BADC|DCBA), "value"}; encodes each value with
Python's struct (independently of the collector's decoder).

argv[2] (optional JSON) picks the transport and peculiarities:
  {"transport": "tcp"}             Modbus TCP (MBAP) on 127.0.0.1 port 0 (the default)
  {"transport": "rtu-over-tcp"}    raw RTU frames (address, PDU, CRC) over TCP on 127.0.0.1
                                   port 0: what a serial device server in TCP server mode passes
  {"transport": "rtu", "device": "/dev/pts/N", "baudrate": 9600}
                                   RTU on a serial port (one end of a socat pty pair)
  "sparse": [unit, ...]            those units implement only their listed registers, so a read
                                   spanning a gap is refused with exception 2 (illegal address)
Units not listed do not exist: pymodbus stays silent for them, as a dead unit on a bus does.
Prints {"port": N} (TCP) or {"device": PATH} once serving. Runs until stdin closes or it is
terminated.
"""
import asyncio
import json
import struct
import sys

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
    ModbusSparseDataBlock,
)
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer


def words(register):
    kind = register["type"]
    if kind == "int16":
        return list(struct.unpack(">H", struct.pack(">h", register["value"])))
    if kind == "uint16":
        return [register["value"]]
    big_endian = struct.pack(">f", register["value"])  # bytes A B C D
    wire = bytes(big_endian["ABCD".index(letter)] for letter in register.get("order", "ABCD"))
    return list(struct.unpack(">HH", wire))


def context_for(registers, sparse):
    units = {}
    for register in registers:
        tables = units.setdefault(register["unit"], {"input": {}, "holding": {}})
        for offset, word in enumerate(words(register)):
            tables[register["table"]][register["address"] + offset] = word

    def block(unit, table):
        if unit in sparse:
            return ModbusSparseDataBlock(table or {0xFFFF: 0})
        dense = [0] * 64
        for address, word in table.items():
            dense[address] = word
        return ModbusSequentialDataBlock(0, dense)

    slaves = {
        unit: ModbusSlaveContext(ir=block(unit, tables["input"]), hr=block(unit, tables["holding"]), zero_mode=True)
        for unit, tables in units.items()
    }
    return ModbusServerContext(slaves=slaves, single=False)


async def main():
    registers = json.loads(sys.argv[1])
    options = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    transport = options.get("transport", "tcp")
    context = context_for(registers, set(options.get("sparse", [])))
    if transport == "rtu":
        server = ModbusSerialServer(
            context,
            framer=ModbusRtuFramer,
            port=options["device"],
            baudrate=options.get("baudrate", 9600),
            ignore_missing_slaves=True,
        )
        await server.start()
        print(json.dumps({"device": options["device"]}), flush=True)
        task = None
    else:
        framer = ModbusRtuFramer if transport == "rtu-over-tcp" else None
        server = ModbusTcpServer(context, framer=framer, address=("127.0.0.1", 0), ignore_missing_slaves=True)
        task = asyncio.ensure_future(server.serve_forever())
        await server.serving
        port = server.server.sockets[0].getsockname()[1]
        print(json.dumps({"port": port}), flush=True)
    loop = asyncio.get_event_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await server.shutdown()
    if task:
        task.cancel()


asyncio.run(main())
