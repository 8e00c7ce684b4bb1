// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/**
 * @title PaymentChannels
 * @notice Prepaid, one-way escrow channels for paying per call (inference) in an ERC-20 token.
 *
 * A client {open}s a channel to a provider with a deposit and an expiry. For every call it signs, off
 * chain, an EIP-712 `Voucher(bytes32 channelId, uint256 cumulativeAmount)`: the total it owes the
 * provider so far on that channel. The provider keeps only the latest voucher and may {claim} it at any
 * time before the expiry; a claim pays the difference between the voucher's amount and what the channel
 * has already paid out, so claiming the same (or an older, lower) voucher again pays nothing, and no
 * claim ever pays out more than the deposit.
 *
 * Expiry (no race by construction): the provider can claim while `block.timestamp < expiresAt`; the
 * client can {reclaim} the unclaimed rest once `block.timestamp >= expiresAt`. The two windows are
 * disjoint, so which transaction comes first within a block never matters. A provider must therefore
 * claim before the expiry (and stop accepting vouchers some time before it); after the client reclaims,
 * the channel is closed for good. Nothing can postpone a reclaim except the client itself ({topUp} may
 * only extend the expiry, never shorten it), so a channel never stays locked beyond its expiry, which is
 * at most MAX_DURATION ahead.
 *
 * Replay: the voucher names its channel, and the EIP-712 domain names this contract and the chain id,
 * so a voucher is worthless on another channel, another deployment or another chain. Channel ids are
 * `keccak256(abi.encode(block.chainid, address(this), client, provider, n))` with `n` a counter of this
 * contract: never reused (not even after a channel closes) and unique across deployments and chains,
 * so off-chain stores can key on them.
 *
 * Vouchers must be ECDSA signatures of the client's key. Contract signatures (ERC-1271) are refused on
 * purpose: they are revocable, so a client could be served and then make its vouchers invalid.
 */
contract PaymentChannels is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Longest a channel may run ahead of the current time (at {open} and after a {topUp}).
    uint64 public constant MAX_DURATION = 365 days;

    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint256 cumulativeAmount)");

    struct Channel {
        address client;
        /// @dev First second at which the channel is expired: claims end, reclaiming starts.
        uint64 expiresAt;
        /// @dev Reclaimed by the client: nothing more can happen to it.
        bool closed;
        address provider;
        /// @dev Everything the client ever deposited (tokens already paid out included).
        uint256 deposit;
        /// @dev Paid out to the provider so far: the amount of the last voucher claimed.
        uint256 claimed;
    }

    IERC20 public immutable token;
    /// @notice Channels ever opened; the counter in the channel id.
    uint256 public channelCount;

    mapping(bytes32 channelId => Channel) private _channels;

    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed client,
        address indexed provider,
        uint256 deposit,
        uint64 expiresAt
    );
    /// @param amount tokens added (may be 0 when only the expiry moved); `deposit` and `expiresAt` are the new totals.
    event ChannelToppedUp(bytes32 indexed channelId, address indexed client, uint256 amount, uint256 deposit, uint64 expiresAt);
    /// @param amount tokens paid by this claim; `claimed` is the channel's new total paid out.
    event ChannelClaimed(bytes32 indexed channelId, address indexed provider, uint256 amount, uint256 claimed);
    /// @param amount the unclaimed rest returned to the client (may be 0).
    event ChannelReclaimed(bytes32 indexed channelId, address indexed client, uint256 amount);

    error InvalidProvider(address provider);
    error ZeroDeposit();
    error InvalidDuration(uint256 duration, uint256 max);
    error UnknownChannel(bytes32 channelId);
    error NotChannelClient(bytes32 channelId, address caller);
    error NotChannelProvider(bytes32 channelId, address caller);
    error ChannelClosed(bytes32 channelId);
    error ChannelExpired(bytes32 channelId, uint64 expiresAt);
    error ChannelNotExpired(bytes32 channelId, uint64 expiresAt);
    error EmptyTopUp(bytes32 channelId);
    error InvalidVoucherSignature(bytes32 channelId, address client);
    error VoucherExceedsDeposit(bytes32 channelId, uint256 cumulativeAmount, uint256 deposit);
    error NothingToClaim(bytes32 channelId, uint256 cumulativeAmount, uint256 claimed);

    constructor(IERC20 token_) EIP712("Mycelium PaymentChannels", "1") {
        token = token_;
    }

    // ---------------------------------------------------------------- clients

    /**
     * @notice Opens a channel from the caller to `provider`, escrowing `deposit` tokens (approve them
     * first) until `duration` seconds from now.
     */
    function open(address provider, uint256 deposit, uint64 duration) external nonReentrant returns (bytes32 channelId) {
        return _open(provider, deposit, duration);
    }

    /// @notice {open} with an EIP-2612 permit for `deposit` instead of a prior approval: one transaction.
    function openWithPermit(address provider, uint256 deposit, uint64 duration, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
        returns (bytes32 channelId)
    {
        _permit(deposit, deadline, v, r, s);
        return _open(provider, deposit, duration);
    }

    /**
     * @notice Adds `amount` tokens to the deposit of a channel of the caller's and/or extends its expiry
     * by `extension` seconds (from the current expiry, or from now if it has passed: an expired channel
     * that was not reclaimed yet can be revived). The channel must be unexpired afterwards.
     */
    function topUp(bytes32 channelId, uint256 amount, uint64 extension) external nonReentrant {
        _topUp(channelId, amount, extension);
    }

    /// @notice {topUp} with an EIP-2612 permit for `amount`.
    function topUpWithPermit(bytes32 channelId, uint256 amount, uint64 extension, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        _permit(amount, deadline, v, r, s);
        _topUp(channelId, amount, extension);
    }

    /// @notice Returns the unclaimed rest of an expired channel to its client and closes it. Client only.
    function reclaim(bytes32 channelId) external nonReentrant returns (uint256 amount) {
        Channel storage c = _channel(channelId);
        if (c.client != msg.sender) revert NotChannelClient(channelId, msg.sender);
        if (c.closed) revert ChannelClosed(channelId);
        if (block.timestamp < c.expiresAt) revert ChannelNotExpired(channelId, c.expiresAt);
        amount = c.deposit - c.claimed;
        c.closed = true;
        if (amount > 0) token.safeTransfer(msg.sender, amount);
        emit ChannelReclaimed(channelId, msg.sender, amount);
    }

    // -------------------------------------------------------------- providers

    /**
     * @notice Pays the provider what a voucher of the client adds to what the channel already paid out:
     * `cumulativeAmount - claimed`. Provider only, before the expiry.
     */
    function claim(bytes32 channelId, uint256 cumulativeAmount, bytes calldata signature) external nonReentrant returns (uint256 amount) {
        Channel storage c = _channel(channelId);
        if (c.provider != msg.sender) revert NotChannelProvider(channelId, msg.sender);
        if (c.closed) revert ChannelClosed(channelId);
        if (block.timestamp >= c.expiresAt) revert ChannelExpired(channelId, c.expiresAt);
        (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecoverCalldata(voucherDigest(channelId, cumulativeAmount), signature);
        if (error != ECDSA.RecoverError.NoError || signer != c.client) revert InvalidVoucherSignature(channelId, c.client);
        if (cumulativeAmount > c.deposit) revert VoucherExceedsDeposit(channelId, cumulativeAmount, c.deposit);
        uint256 claimed = c.claimed;
        if (cumulativeAmount <= claimed) revert NothingToClaim(channelId, cumulativeAmount, claimed);
        amount = cumulativeAmount - claimed;
        c.claimed = cumulativeAmount;
        token.safeTransfer(msg.sender, amount);
        emit ChannelClaimed(channelId, msg.sender, amount, cumulativeAmount);
    }

    // ------------------------------------------------------------------- views

    /// @notice A channel; all zero (client the zero address) if there is none with this id.
    function channelOf(bytes32 channelId) external view returns (Channel memory) {
        return _channels[channelId];
    }

    /// @notice The EIP-712 digest a client signs for a voucher of `channelId` worth `cumulativeAmount` in total.
    function voucherDigest(bytes32 channelId, uint256 cumulativeAmount) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, cumulativeAmount)));
    }

    // ---------------------------------------------------------------- internal

    function _open(address provider, uint256 deposit, uint64 duration) private returns (bytes32 channelId) {
        if (provider == address(0) || provider == msg.sender) revert InvalidProvider(provider);
        if (deposit == 0) revert ZeroDeposit();
        if (duration == 0 || duration > MAX_DURATION) revert InvalidDuration(duration, MAX_DURATION);
        uint256 n = channelCount++;
        channelId = keccak256(abi.encode(block.chainid, address(this), msg.sender, provider, n));
        uint64 expiresAt = uint64(block.timestamp) + duration;
        _channels[channelId] = Channel({
            client: msg.sender,
            expiresAt: expiresAt,
            closed: false,
            provider: provider,
            deposit: deposit,
            claimed: 0
        });
        token.safeTransferFrom(msg.sender, address(this), deposit);
        emit ChannelOpened(channelId, msg.sender, provider, deposit, expiresAt);
    }

    function _topUp(bytes32 channelId, uint256 amount, uint64 extension) private {
        Channel storage c = _channel(channelId);
        if (c.client != msg.sender) revert NotChannelClient(channelId, msg.sender);
        if (c.closed) revert ChannelClosed(channelId);
        if (amount == 0 && extension == 0) revert EmptyTopUp(channelId);
        uint64 expiresAt = c.expiresAt;
        if (extension > 0) {
            uint64 from = expiresAt > block.timestamp ? expiresAt : uint64(block.timestamp);
            if (extension > MAX_DURATION || from + extension > block.timestamp + MAX_DURATION) {
                revert InvalidDuration(from + uint256(extension) - block.timestamp, MAX_DURATION);
            }
            expiresAt = from + extension;
            c.expiresAt = expiresAt;
        }
        if (block.timestamp >= expiresAt) revert ChannelExpired(channelId, expiresAt);
        if (amount > 0) {
            c.deposit += amount;
            token.safeTransferFrom(msg.sender, address(this), amount);
        }
        emit ChannelToppedUp(channelId, msg.sender, amount, c.deposit, expiresAt);
    }

    function _permit(uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) private {
        // A permit can be front-run (submitted by someone else first); then the allowance is already there.
        try IERC20Permit(address(token)).permit(msg.sender, address(this), value, deadline, v, r, s) {} catch {}
    }

    function _channel(bytes32 channelId) private view returns (Channel storage c) {
        c = _channels[channelId];
        if (c.client == address(0)) revert UnknownChannel(channelId);
    }
}
