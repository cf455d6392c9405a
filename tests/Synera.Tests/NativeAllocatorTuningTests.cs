using System.Runtime.InteropServices;
using Synera.Grains.Verification;

namespace Synera.Tests;

/// <summary>The verifier's heap keeps a step's freed buffers for the next step instead of faulting them in again.</summary>
public sealed class NativeAllocatorTuningTests
{
    /// <summary>
    /// A step's worth of buffers (three of 12 MiB), allocated, written and freed again and again, as libtorch does every
    /// forward. With glibc's defaults the freed 36 MiB at the heap's top exceed its trim threshold (twice the largest block
    /// freed) and go back to the kernel, so each round faults in about 9,000 pages again; tuned, they stay.
    /// </summary>
    [Fact]
    public void AStepsFreedBuffersAreReusedWithoutPageFaults()
    {
        if (!OperatingSystem.IsLinux()) Assert.Fail("the tuning is for Linux with glibc; this test runs there");
        Assert.True(NativeAllocatorTuning.Apply(), "mallopt is glibc's; the test machines run glibc");
        const int block = 12 << 20;
        var ones = new byte[block];
        Array.Fill(ones, (byte)1);
        void Round()
        {
            var blocks = new nint[3];
            for (int i = 0; i < blocks.Length; i++)
            {
                blocks[i] = Marshal.AllocHGlobal(block);   // malloc
                Marshal.Copy(ones, 0, blocks[i], block);   // touch every page
            }
            foreach (var b in blocks) Marshal.FreeHGlobal(b);
        }
        Round();   // the first round faults its pages in
        long before = MinorFaults();
        for (int r = 0; r < 5; r++) Round();
        long faults = MinorFaults() - before;
        Assert.True(faults < 2_000, $"{faults} page faults in 5 rounds of 3 × 12 MiB (about 9,000 a round when the heap is trimmed)");
    }

    /// <summary>Minor page faults of this process so far (<c>/proc/self/stat</c>, field 10).</summary>
    private static long MinorFaults()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');   // after "pid (name) "
        return long.Parse(fields[7]);   // field 10 overall: minflt
    }
}
