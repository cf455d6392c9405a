using Synera.Abstractions.Messages;

namespace Synera.DeviceClient.Offloading;

/// <summary>
/// The device's long-run offload account: the budget is a cap on the fraction of committed tokens offloaded over
/// thousands of tokens, not a per-token ration. Each committed token earns <see cref="Budget"/> of credit, each offload
/// spends 1, and an offload needs a whole credit. Credit saves up to <see cref="HorizonTokens"/> tokens' worth of budget,
/// so errors that come in bursts (two offloads in an arithmetic answer's four tokens) are all covered, while a device
/// can never run ahead of <c>budget × generated + </c><see cref="DeviceAccount.InitialAllowance"/>. Offloads are spent
/// when a span is sent; they are returned when the cloud refuses the span, and when a rejection voids it (the verifier
/// drops spans built on a rejected token unrun, and the session grain refunds them to the device grain).
/// </summary>
public sealed class OffloadAccount
{
    /// <summary>Credit saves at most this many tokens' worth of budget (the "long run" of the cap).</summary>
    public const int HorizonTokens = 2048;

    public OffloadAccount(double budget, DeviceAccount? restored = null)
    {
        Budget = budget;
        Credit = DeviceAccount.InitialAllowance;
        if (restored is null) return;
        NumGenerated = restored.NumGenerated;
        NumOffloaded = restored.NumOffloaded;
        Credit = Math.Min(MaxCredit, restored.Credit);
    }

    /// <summary>The offload budget now, in [0, 1] (after load scaling).</summary>
    public double Budget { get; set; }
    public long NumGenerated { get; private set; }
    public long NumOffloaded { get; private set; }
    public double Credit { get; private set; }
    public double MaxCredit => Math.Max(DeviceAccount.InitialAllowance, Budget * HorizonTokens);
    public double OffloadRatio => NumGenerated == 0 ? 0 : (double)NumOffloaded / NumGenerated;

    /// <summary>Whether one more offload fits the account now (budget 1 always fits, budget 0 never).</summary>
    public bool CanOffload => Budget >= 1 || (Budget > 0 && Credit >= 1);

    public void OnCommitted(int numTokens)
    {
        NumGenerated += numTokens;
        Credit = Math.Min(MaxCredit, Credit + Budget * numTokens);
    }

    public void OnOffloaded()
    {
        NumOffloaded++;
        Credit -= 1;
    }

    /// <summary>Returns offloads the cloud refused (it charged nothing for them).</summary>
    public void Refund(int numOffloads)
    {
        NumOffloaded -= numOffloads;
        Credit = Math.Min(MaxCredit, Credit + numOffloads);
    }
}
