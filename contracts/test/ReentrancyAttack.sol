// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Marketplace} from "../Marketplace.sol";
import {ModelRegistry} from "../ModelRegistry.sol";

/// @dev Test only. Receives a callback from {CallbackToken} whenever it is paid.
interface ITokenReceiver {
    function onTokenReceived(address from, uint256 amount) external;
}

/// @dev Test only. An ERC-20 that calls recipients which opted in, like ERC-777/ERC-1363 hooks do:
/// the kind of token that hands control to an attacker in the middle of a transfer.
contract CallbackToken is ERC20 {
    mapping(address account => bool) public hooked;

    constructor() ERC20("Callback Token", "CBT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function registerHook() external {
        hooked[msg.sender] = true;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (hooked[to]) ITokenReceiver(to).onTokenReceived(from, value);
    }
}

/// @dev Test only. Owns a model, sells licences, then tries to withdraw its proceeds twice by re-entering
/// {Marketplace.withdraw} from the token callback.
contract ReentrantSeller is ITokenReceiver {
    Marketplace public immutable market;
    ModelRegistry public immutable registry;
    bool private _reenter;
    uint256 public received;

    constructor(Marketplace market_, ModelRegistry registry_, CallbackToken token) {
        market = market_;
        registry = registry_;
        token.registerHook();
    }

    function publishAndList(string calldata name, string calldata cid, uint256 price) external {
        registry.publish(name, "1.0.0", cid, new uint256[](0), "MIT");
        market.list(name, price, 0, 0);
    }

    function attack() external {
        _reenter = true;
        market.withdraw();
    }

    function withdrawOnce() external {
        market.withdraw();
    }

    function onTokenReceived(address, uint256 amount) external {
        received += amount;
        if (_reenter) {
            _reenter = false;
            market.withdraw();
        }
    }
}
