// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PaymentChannels} from "../PaymentChannels.sol";
import {CallbackToken, ITokenReceiver} from "./ReentrancyAttack.sol";

/// @dev Test only. The provider of a channel paid in {CallbackToken}: when a claim pays it, it tries to
/// claim the same voucher again from the token callback, in the middle of the first claim.
contract ReentrantProvider is ITokenReceiver {
    PaymentChannels public immutable channels;
    bool private _reenter;
    bytes32 private _channelId;
    uint256 private _amount;
    bytes private _signature;
    uint256 public received;

    constructor(PaymentChannels channels_, CallbackToken token) {
        channels = channels_;
        token.registerHook();
    }

    function attack(bytes32 channelId, uint256 cumulativeAmount, bytes calldata signature) external {
        (_reenter, _channelId, _amount, _signature) = (true, channelId, cumulativeAmount, signature);
        channels.claim(channelId, cumulativeAmount, signature);
    }

    function claimOnce(bytes32 channelId, uint256 cumulativeAmount, bytes calldata signature) external {
        channels.claim(channelId, cumulativeAmount, signature);
    }

    function onTokenReceived(address, uint256 amount) external {
        received += amount;
        if (_reenter) {
            _reenter = false;
            channels.claim(_channelId, _amount, _signature);
        }
    }
}
