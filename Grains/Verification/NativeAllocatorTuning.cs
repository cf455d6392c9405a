using System.Runtime.InteropServices;

namespace Synera.Grains.Verification;

/// <summary>
/// Keeps libtorch's per-step buffers in the process heap. Every step allocates and frees tens of megabytes of tensors
/// (the batch's K/V read back from the slot pools, activations). With glibc's defaults, freed memory above a threshold
/// is returned to the kernel and the next step faults it in again, page by page, zeroed: the bare engine
/// (<c>bench verifier --threads 1 --sessions 192 --span 16</c>) took 500k page faults in a run and a verifier silo under
/// <c>bench scale</c> 34k a second. With the heap kept, 295-442k in the run and 570 a second in the silo, and the engine
/// verified 10-15 % more tokens a second in four of five back-to-back pairs here. The cost: the process keeps its peak
/// heap (about one step's tensors) instead of returning it between steps. PyTorch's own advice for CPU inference is a
/// caching allocator (jemalloc, tcmalloc) for the same reason; these are glibc's own settings for it (<c>mallopt</c>).
/// Linux with glibc only; elsewhere nothing changes.
/// </summary>
public static class NativeAllocatorTuning
{
    private const int TrimThreshold = -1, TopPad = -2, MmapThreshold = -3;   // glibc's M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD
    private static int applied;

    /// <summary>Applies the settings once per process; false where they do not exist (not glibc).</summary>
    public static bool Apply()
    {
        if (!OperatingSystem.IsLinux()) return false;
        if (Interlocked.Exchange(ref applied, 1) == 1) return true;
        try
        {
            // Blocks up to 32 MiB (glibc's ceiling for this setting) come from the heap rather than their own mapping;
            // the heap's top is never trimmed; each growth takes 64 MiB more than asked.
            return mallopt(MmapThreshold, 32 << 20) == 1 && mallopt(TrimThreshold, int.MaxValue) == 1 && mallopt(TopPad, 64 << 20) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;   // musl or another C library
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);
}
